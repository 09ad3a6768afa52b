/* Stage-1 translation tables for the EL1&0 regime, for a 4K, 16K or 64K granule (gshift 12,
 * 14 or 16).
 * Level L of a granule of 2^g bytes resolves VA bits [g + (3-L)(g-3) + (g-3) - 1 : g + (3-L)(g-3)];
 * the walk starts at the level that covers the 64 - TnSZ input bits. */
#include "rt.h"

#define POOL_BYTES (16UL << 16)
static u8 pt_pool[POOL_BYTES] __attribute__((aligned(65536)));
static u64 pool_used;

static unsigned level_shift(const struct mmu *m, int level)
{
    return m->gshift + (3 - level) * (m->gshift - 3);
}

int mmu_start_level(const struct mmu *m, int ttbr1)
{
    unsigned ia = 64 - (ttbr1 ? m->t1sz : m->t0sz), s = m->gshift - 3;
    return 4 - (int)((ia - m->gshift + s - 1) / s);
}

u64 *mmu_alloc_table(const struct mmu *m)
{
    u64 size = 1UL << m->gshift;
    pool_used = (pool_used + size - 1) & ~(size - 1);
    if (pool_used + size > POOL_BYTES)
        fatal("page-table pool exhausted");
    u64 *t = (u64 *)(pt_pool + pool_used);
    pool_used += size;
    memset(t, 0, size);
    return t;
}

void mmu_setup(struct mmu *m, unsigned gshift, unsigned t0sz, unsigned t1sz)
{
    m->gshift = gshift;
    m->t0sz = t0sz;
    m->t1sz = t1sz;
    m->root0 = mmu_alloc_table(m);
    m->root1 = t1sz ? mmu_alloc_table(m) : 0;
}

static u64 oa_mask(const struct mmu *m)
{
    return ((1UL << 48) - 1) & ~((1UL << m->gshift) - 1);
}

u64 *mmu_pte(struct mmu *m, u64 va, int level)
{
    int hi = (va >> 63) & 1;
    unsigned ia = 64 - (hi ? m->t1sz : m->t0sz);
    u64 *table = hi ? m->root1 : m->root0;
    u64 in = va & ((1UL << ia) - 1), idx_mask = (1UL << (m->gshift - 3)) - 1;
    for (int l = mmu_start_level(m, hi);; l++) {
        u64 *pte = &table[(in >> level_shift(m, l)) & idx_mask];
        if (l == level)
            return pte;
        if (!(*pte & PTE_VALID)) {
            u64 *t = mmu_alloc_table(m);
            *pte = (u64)t | PTE_VALID | PTE_TABLE;
        } else if (!(*pte & PTE_TABLE)) {
            return 0;
        }
        table = (u64 *)(*pte & oa_mask(m));
    }
}

void mmu_map(struct mmu *m, u64 va, u64 pa, u64 size, u64 attrs, u64 max_leaf)
{
    int start = mmu_start_level(m, (va >> 63) & 1);
    /* 4K: 1G and 2M blocks; 16K: 32M only (64G level 1 blocks need TCR.DS); 64K: 512M */
    int first_block = m->gshift == 12 ? 1 : 2;
    while (size) {
        u64 *pte = 0;
        int level;
        for (level = first_block < start ? start : first_block; level <= 3; level++) {
            u64 bs = 1UL << level_shift(m, level);
            if (level < 3 && (bs > size || ((va | pa) & (bs - 1)) || (max_leaf && bs > max_leaf)))
                continue;
            pte = mmu_pte(m, va, level);
            if (pte && level < 3 && (*pte & (PTE_VALID | PTE_TABLE)) == (PTE_VALID | PTE_TABLE))
                continue;                           /* a table is already there: go finer */
            break;
        }
        if (!pte || level > 3)
            fatal("mmu_map: cannot map %lx", va);
        u64 bs = 1UL << level_shift(m, level);
        *pte = (pa & oa_mask(m)) | attrs | PTE_VALID | (level == 3 ? PTE_TABLE : 0);
        va += bs;
        pa += bs;
        size = size > bs ? size - bs : 0;
    }
    dsb(ishst);
}

void mmu_identity(struct mmu *m)
{
    u64 ts = (u64)__text_start, te = (u64)__text_end, ie = (u64)__image_end;
    u64 ram_end = RAM_BASE + RAM_SIZE;
    mmu_map(m, 0, 0, RAM_BASE, MEM_DEVICE | PTE_AP_RW_EL1, 0);
    mmu_map(m, RAM_BASE, RAM_BASE, ts - RAM_BASE, MEM_NORMAL | PTE_AP_RW_EL1 | PTE_PXN | PTE_UXN, 0);
    mmu_map(m, ts, ts, te - ts, MEM_NORMAL | PTE_AP_RO_ALL, 0);
    mmu_map(m, te, te, ie - te, MEM_NORMAL | PTE_AP_RW_ALL | PTE_PXN | PTE_UXN, 0);
    mmu_map(m, ie, ie, ram_end - ie, MEM_NORMAL | PTE_AP_RW_EL1 | PTE_PXN | PTE_UXN, 0);
}

void mmu_enable(struct mmu *m, u64 asid)
{
    u64 tg0 = m->gshift == 12 ? 0 : m->gshift == 16 ? 1 : 2;
    u64 tg1 = m->gshift == 12 ? 2 : m->gshift == 16 ? 3 : 1;
    u64 ips = read_sysreg(id_aa64mmfr0_el1) & 0xf;
    if (ips > 5)
        ips = 5;
    u64 tcr = m->t0sz | (1UL << 8) | (1UL << 10) | (3UL << 12) | (tg0 << 14) | (ips << 32);
    if (m->root1)
        tcr |= ((u64)m->t1sz << 16) | (1UL << 24) | (1UL << 26) | (3UL << 28) | (tg1 << 30);
    else
        tcr |= (16UL << 16) | (1UL << 23) | (tg1 << 30);   /* EPD1: no TTBR1 walks */
    dsb(ish);
    write_sysreg(MAIR_VALUE, mair_el1);
    write_sysreg(tcr, tcr_el1);
    write_sysreg((u64)m->root0 | (asid << 48), ttbr0_el1);
    write_sysreg(m->root1 ? (u64)m->root1 : 0, ttbr1_el1);
    isb();
    asm volatile("tlbi vmalle1" ::: "memory");
    dsb(nsh);
    isb();
    write_sysreg(read_sysreg(sctlr_el1) | (1UL << 0) | (1UL << 2) | (1UL << 12), sctlr_el1);
    isb();
}

void mmu_disable(void)
{
    write_sysreg(read_sysreg(sctlr_el1) & ~((1UL << 0) | (1UL << 2)), sctlr_el1);
    isb();
    asm volatile("tlbi vmalle1" ::: "memory");
    dsb(nsh);
    isb();
}

void tlb_flush_all(void)
{
    dsb(ishst);
    asm volatile("tlbi vmalle1is" ::: "memory");
    dsb(ish);
    isb();
}

void tlb_flush_va(u64 va)
{
    dsb(ishst);
    asm volatile("tlbi vaae1is, %0" :: "r"((va >> 12) & ((1UL << 44) - 1)) : "memory");
    dsb(ish);
    isb();
}
