"""Numba intrinsics the runtime is built from: raw pointers and calls through code addresses.

Compiled blocks and helpers are plain native functions; these let Numba code reach them (and
the arrays they share) by address, without Python in between.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def call_block(typingctx, fn, env):
    """Call a compiled block `i64 (i64*)` at address `fn` with the env pointer `env`."""
    sig = types.int64(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64).as_pointer()])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        p = builder.inttoptr(args[1], ir.IntType(64).as_pointer())
        return builder.call(f, [p])

    return sig, codegen


@intrinsic
def u64_ptr(typingctx, addr):
    """The address as a uint64* that numba.carray accepts."""
    sig = types.CPointer(types.uint64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(64).as_pointer())

    return sig, codegen


@intrinsic
def u8_ptr(typingctx, addr):
    sig = types.CPointer(types.uint8)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return sig, codegen


@intrinsic
def store_u64(typingctx, addr, value):
    """*(uint64*)addr = value: fills a chain slot of a compiled block."""
    sig = types.void(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        p = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        builder.store(args[1], p)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def address_of(typingctx, arr):
    """The data address of a 1-D array, as uint64."""
    sig = types.int64(arr)

    def codegen(context, builder, signature, args):
        ary = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0])
        return builder.ptrtoint(ary.data, ir.IntType(64))

    return sig, codegen


@intrinsic
def i64_ptr(typingctx, addr):
    """The address as an int64* that numba.carray accepts."""
    sig = types.CPointer(types.int64)(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(64).as_pointer())

    return sig, codegen
