/* Entry points, vector table and EL0 trampolines of the test-guest runtime.
 *
 * _start:          CPU 0, as a -kernel ELF is entered: EL1, MMU off.  Stack from MPIDR, zero
 *                  .bss, VBAR_EL1, TPIDR_EL1 = CPU index, then rt_primary() -> main().
 * secondary_entry: PSCI CPU_ON entry of the other CPUs (x0 = context id): stack, VBAR, TPIDR,
 *                  then rt_secondary() -> secondary_main(context id).
 * vectors:         16 stubs that push a struct frame and call exc_dispatch(frame, slot). */

#define STACK_SHIFT 14          /* 16K EL1 stack per CPU */
#define EL0_STACK_SHIFT 13      /* 8K EL0 stack per CPU */
#define FRAME_SIZE 288
#define NCPU_MAX 8

    .macro adr_l reg, sym
    adrp \reg, \sym
    add \reg, \reg, :lo12:\sym
    .endm

    /* x0 = CPU index from MPIDR_EL1 (Aff0 + 16 * Aff1, QEMU virt's GICv3 layout) */
    .macro cpu_index_x0 tmp
    mrs x0, mpidr_el1
    ubfx \tmp, x0, #8, #8
    and x0, x0, #0xff
    add x0, x0, \tmp, lsl #4
    .endm

    .section .text.boot, "ax"
    .global _start
_start:
    mov x19, x0
    mov x20, x1
    mov x21, x2
    mov x22, x3
    mrs x23, CurrentEL
    mrs x24, DAIF
    mrs x25, SCTLR_EL1
    mrs x26, SPSel
    msr DAIFSet, #0xf
    cpu_index_x0 x9
    cbnz x0, park                  /* only CPU 0 is expected here */
    mov x27, x0
    msr SPSel, #1
    adr_l x1, el1_stacks
    add x2, x27, #1
    add x1, x1, x2, lsl #STACK_SHIFT
    mov sp, x1
    adr_l x1, __bss_start
    adr_l x2, __bss_end
1:  cmp x1, x2
    b.hs 2f
    stp xzr, xzr, [x1], #16
    b 1b
2:  adr_l x1, vectors
    msr VBAR_EL1, x1
    msr TPIDR_EL1, x27
    isb
    mov x0, x19
    mov x1, x20
    mov x2, x21
    mov x3, x22
    mov x4, x23
    mov x5, x24
    mov x6, x25
    mov x7, x26
    bl rt_primary
park:
    wfe
    b park

    .text
    .global secondary_entry
    .balign 8
secondary_entry:
    mov x19, x0
    mrs x23, CurrentEL
    mrs x24, DAIF
    mrs x25, SCTLR_EL1
    mrs x26, SPSel
    msr DAIFSet, #0xf
    cpu_index_x0 x9
    cmp x0, #NCPU_MAX
    b.hs park
    mov x27, x0
    msr SPSel, #1
    adr_l x1, el1_stacks
    add x2, x27, #1
    add x1, x1, x2, lsl #STACK_SHIFT
    mov sp, x1
    adr_l x1, vectors
    msr VBAR_EL1, x1
    msr TPIDR_EL1, x27
    isb
    mov x0, x19
    mov x1, x23
    mov x2, x24
    mov x3, x25
    mov x4, x26
    bl rt_secondary
    b park

/* u64 run_el0(u64 (*fn)(u64), u64 arg, u64 spsr) */
    .global run_el0
run_el0:
    mrs x9, TPIDR_EL1
    adr_l x10, el0_ctx
    add x10, x10, x9, lsl #7
    stp x19, x20, [x10, #0]
    stp x21, x22, [x10, #16]
    stp x23, x24, [x10, #32]
    stp x25, x26, [x10, #48]
    stp x27, x28, [x10, #64]
    stp x29, x30, [x10, #80]
    mov x11, sp
    mrs x12, DAIF
    stp x11, x12, [x10, #96]
    msr DAIFSet, #0xf
    msr ELR_EL1, x0
    msr SPSR_EL1, x2
    adr_l x11, el0_stacks
    add x9, x9, #1
    add x11, x11, x9, lsl #EL0_STACK_SHIFT
    msr SP_EL0, x11
    mov x0, x1
    adr_l x30, el0_exit
    mov x29, #0
    eret

    /* EL0 code: fn returns here; SVC #0xffff asks EL1 to resume after run_el0 */
    .global el0_exit
el0_exit:
    svc #0xffff
    b el0_exit

/* void el0_return(u64 value): called at EL1 from exc_dispatch; returns from run_el0 */
    .global el0_return
el0_return:
    mrs x9, TPIDR_EL1
    adr_l x10, el0_ctx
    add x10, x10, x9, lsl #7
    ldp x11, x12, [x10, #96]
    mov sp, x11
    ldp x19, x20, [x10, #0]
    ldp x21, x22, [x10, #16]
    ldp x23, x24, [x10, #32]
    ldp x25, x26, [x10, #48]
    ldp x27, x28, [x10, #64]
    ldp x29, x30, [x10, #80]
    msr DAIF, x12
    ret

/* the vector table: 16 slots of 0x80 bytes, each pushes x0/x1 and jumps to exc_entry with
 * x1 = slot number (offset / 0x80) */
    .section .text.vectors, "ax"
    .balign 2048
    .global vectors
vectors:
    .irp slot, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .balign 128
    sub sp, sp, #FRAME_SIZE
    stp x0, x1, [sp, #0]
    mov x1, #\slot
    b exc_entry
    .endr

exc_entry:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    mrs x2, ELR_EL1
    stp x30, x2, [sp, #240]
    mrs x2, SPSR_EL1
    mrs x3, ESR_EL1
    stp x2, x3, [sp, #256]
    mrs x2, FAR_EL1
    stp x2, x1, [sp, #272]
    mov x0, sp
    bl exc_dispatch
    ldp x30, x2, [sp, #240]
    msr ELR_EL1, x2
    ldr x2, [sp, #256]
    msr SPSR_EL1, x2
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldp x0, x1, [sp, #0]
    add sp, sp, #FRAME_SIZE
    eret

    .bss
    .balign 4096
    .global el1_stacks
el1_stacks:
    .skip NCPU_MAX << STACK_SHIFT
    .balign 4096
    .global el0_stacks
el0_stacks:
    .skip NCPU_MAX << EL0_STACK_SHIFT
    .balign 128
el0_ctx:
    .skip NCPU_MAX * 128

/* Probes: one access each, at a known address (the *_insn labels), NZCV cleared first so
 * SPSR is predictable.  Usable at EL1 and as EL0 programs (u64 fn(u64)).  A faulting access
 * skipped by the handler leaves the 0xbad marker as the result. */
    .text
    .global probe_ld64, probe_ld64_insn
probe_ld64:
    msr nzcv, xzr
    mov x1, x0
    mov x0, #0xbad
probe_ld64_insn:
    ldr x0, [x1]
    ret
    .global probe_ld8, probe_ld8_insn
probe_ld8:
    msr nzcv, xzr
    mov x1, x0
    mov x0, #0xbad
probe_ld8_insn:
    ldrb w0, [x1]
    ret
    .global probe_st64, probe_st64_insn       /* stores 0x5a5a5a5a5a5a5a5a, returns 0 */
probe_st64:
    msr nzcv, xzr
    mov x1, #0x5a5a
    orr x1, x1, x1, lsl #16
    orr x1, x1, x1, lsl #32
probe_st64_insn:
    str x1, [x0]
    mov x0, #0
    ret
    .global probe_call                         /* x0 = target; returns its x0 */
probe_call:
    msr nzcv, xzr
    stp x29, x30, [sp, #-16]!
    mov x1, x0
    mov x0, #0xbad
    blr x1
    ldp x29, x30, [sp], #16
    ret
