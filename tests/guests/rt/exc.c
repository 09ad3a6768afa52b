/* Exception dispatch: expected synchronous exceptions are recorded and resumed, the EL0
 * trampoline's SVC #0xffff returns to run_el0()'s caller, IRQs go through the GIC CPU
 * interface to irq_handler(), anything else is fatal. */
#include "rt.h"

struct percpu_exc {
    volatile u64 armed;
    volatile u64 nzcv_set, nzcv;
    struct exc_record rec;
};
static struct percpu_exc pc_exc[NCPU_MAX];
volatile u64 last_irq_vec[NCPU_MAX];

void el0_return(u64 value) __attribute__((noreturn));

static const char *const slot_name[16] = {
    "cur-sp0 sync", "cur-sp0 irq", "cur-sp0 fiq", "cur-sp0 serror",
    "cur-spx sync", "cur-spx irq", "cur-spx fiq", "cur-spx serror",
    "low64 sync", "low64 irq", "low64 fiq", "low64 serror",
    "low32 sync", "low32 irq", "low32 fiq", "low32 serror",
};

void expect_exception(void)
{
    struct percpu_exc *p = &pc_exc[this_cpu()];
    memset(&p->rec, 0, sizeof p->rec);
    p->nzcv_set = 0;
    barrier();
    p->armed = 1;
    barrier();
}

u64 took_exception(struct exc_record *r)
{
    struct percpu_exc *p = &pc_exc[this_cpu()];
    barrier();
    p->armed = 0;
    barrier();
    if (r)
        *r = p->rec;
    return p->rec.count;
}

void set_return_nzcv(u64 nzcv)
{
    struct percpu_exc *p = &pc_exc[this_cpu()];
    p->nzcv = nzcv & 0xf0000000UL;
    p->nzcv_set = 1;
}

__attribute__((weak)) int sync_hook(struct frame *f)
{
    (void)f;
    return 0;
}

__attribute__((weak)) int async_hook(struct frame *f, u64 slot)
{
    (void)f;
    (void)slot;
    return 0;
}

__attribute__((weak)) void irq_handler(u32 intid, struct frame *f)
{
    fatal("cpu %d: unexpected interrupt %u (%s, elr %lx)", this_cpu(), intid,
          slot_name[f->vec], f->elr);
}

static void unexpected(struct frame *f)
{
    print("cpu %d: unexpected exception at %s: esr=%lx elr=%lx far=%lx spsr=%lx\n",
          this_cpu(), slot_name[f->vec & 15], f->esr, f->elr, f->far, f->spsr);
    fatal("unexpected exception (%s, esr %lx)", slot_name[f->vec & 15], f->esr);
}

void exc_dispatch(struct frame *f, u64 slot)
{
    int cpu = this_cpu();
    u64 kind = slot & 3;
    if (kind == 1) {                                /* IRQ */
        last_irq_vec[cpu] = slot;
        u32 intid = gic_ack();
        if (intid >= 1020 && intid <= 1023)
            return;                                 /* spurious: nothing to do */
        irq_handler(intid, f);
        gic_eoi(intid);
        return;
    }
    if (kind != 0 && !async_hook(f, slot))
        unexpected(f);                              /* FIQ, SError */
    if (kind != 0)
        return;
    u64 ec = ESR_EC(f->esr);
    if (slot == VEC_LOW64_SYNC && ec == EC_SVC64 && ESR_ISS(f->esr) == 0xffff)
        el0_return(f->x[0]);
    if (sync_hook(f))
        return;
    struct percpu_exc *p = &pc_exc[cpu];
    if (!p->armed)
        unexpected(f);
    struct exc_record *r = &p->rec;
    r->count++;
    r->vec = slot;
    r->esr = f->esr;
    r->far = f->far;
    r->elr = f->elr;
    r->spsr = f->spsr;
    r->daif = read_sysreg(daif);
    r->currentel = read_sysreg(CurrentEL);
    r->spsel = read_sysreg(spsel);
    if (p->nzcv_set) {
        f->spsr = (f->spsr & ~0xf0000000UL) | p->nzcv;
        p->nzcv_set = 0;
    }
    if (ec == 0x0e)                                 /* Illegal Execution state: PSTATE.IL */
        f->spsr &= ~(1UL << 20);                    /* would be restored and fault again */
    switch (ec) {
    case EC_SVC64:
    case EC_HVC64:
    case 0x17:                                      /* SMC: preferred return is the next insn */
    case 0x32:                                      /* software step: ELR is the next insn */
    case 0x33:
        break;
    case EC_IABT_LOW:
    case EC_IABT_CUR:
    case EC_PC_ALIGN:                               /* the branch target faulted: back to caller */
        f->elr = f->x[30];
        break;
    default:
        f->elr += 4;
    }
}

/* one line per expected exception: the values that are checked, then the checks */
void check_exc(const char *what, u64 count, const struct exc_record *r, u64 slot, u64 esr,
               u64 elr, u64 far, u64 spsr)
{
    if (count != 1) {
        check_failed("%s: %lu exceptions taken, want 1", what, count);
        return;
    }
    print("%s: vector 0x%03lx esr 0x%08lx", what, r->vec * 0x80, r->esr);
    if (far != ANY && !(far >= (u64)__text_start && far < (u64)__image_end))
        print(" far 0x%lx", r->far);              /* constants only: no link addresses */
    if (spsr != ANY)
        print(" spsr 0x%08lx", r->spsr);
    puts("\n");
    if (r->vec != slot)
        check_failed("%s: taken at vector 0x%lx, want 0x%lx", what, r->vec * 0x80, slot * 0x80);
    if (r->esr != esr)
        check_failed("%s: ESR %lx, want %lx", what, r->esr, esr);
    if (elr != ANY && r->elr != elr)
        check_failed("%s: ELR %lx, want %lx", what, r->elr, elr);
    if (far != ANY && r->far != far)
        check_failed("%s: FAR %lx, want %lx", what, r->far, far);
    if (spsr != ANY && r->spsr != spsr)
        check_failed("%s: SPSR %lx, want %lx", what, r->spsr, spsr);
    if (r->currentel != 4 || r->spsel != 1 || r->daif != 0x3c0)
        check_failed("%s: handler ran with CurrentEL %lx SPSel %lx DAIF %lx, want 4 1 3c0", what,
                     r->currentel, r->spsel, r->daif);
}
