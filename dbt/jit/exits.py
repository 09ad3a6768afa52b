"""Typed block exits: the i64 a compiled block returns, and the PENDING bits slow paths set.

Every block ends in one of these.  The dispatcher handles LOOKUP and LINK natively; the others
return to Python with env[PC] and env[EXIT_*] describing the event.
"""
LOOKUP = 0        # indirect branch or unchained direct branch: dispatcher looks up env[PC]
LINK = 1          # direct branch whose chain slot (env[LINK_SLOT]) is empty: fill it, go on
BUDGET = 2        # instruction budget used up (or an exit was requested)
MISS = 3          # (dispatcher) no translated block for env[PC]
SVC = 4           # SVC #imm executed; env[PC] is the next instruction, EXIT_INFO = imm
UNDEFINED = 5     # undefined instruction at env[PC]; EXIT_INFO = the word
FAULT = 6         # memory fault at env[PC]; EXIT_INFO = address, EXIT_INFO2 = access kind
BRK = 7           # BRK #imm at env[PC]; EXIT_INFO = imm
HLT = 8           # HLT #imm at env[PC]
CODE_WRITE = 9    # a store hit a page holding translated code; env[PC] is the next instruction
SYSTEM = 10       # an instruction that needs Python (system register, WFI...); see EXIT_INFO
STEP = 11         # single step: one instruction done
# system mode
EXCEPTION = 12    # synchronous exception at env[PC]; EXIT_INFO = ESR (the dispatcher takes it)
HVC = 13          # HVC #imm at EL1: env[PC] is the next instruction, EXIT_INFO = imm
SMC = 14          # SMC #imm at EL1, likewise
ERET = 15         # ERET at EL1 (the dispatcher performs it)
IRQ_CHECK = 16    # an interrupt may have been unmasked; env[PC] is the next instruction

NAMES = {v: k for k, v in dict(globals()).items() if k.isupper() and isinstance(v, int)}

# env[PENDING] bits
PENDING_FAULT = 1
PENDING_CODE_WRITE = 2

# access kinds in EXIT_INFO2
ACCESS_READ = 0
ACCESS_WRITE = 1
ACCESS_EXEC = 2
ACCESS_ALIGN = 3     # alignment fault (exclusive and acquire/release accesses)
