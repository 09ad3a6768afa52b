/* The PL011 as Linux's amba-pl011 driver sees it: PrimeCell identification, flags at idle,
 * control register, and the transmit interrupt on SPI 1 (INTID 33) through the GIC, raised by
 * a write to UARTDR and cleared through UARTICR. */
#include "rt.h"

#define UARTDR 0x000
#define UARTFR 0x018
#define UARTCR 0x030
#define UARTIMSC 0x038
#define UARTRIS 0x03c
#define UARTMIS 0x040
#define UARTICR 0x044
#define INT_TX (1u << 5)
#define UART_INTID 33

static volatile u32 irqs, irq_intid, mis_in_handler;

void irq_handler(u32 intid, struct frame *f)
{
    (void)f;
    irq_intid = intid;
    mis_in_handler = mmio_r32(UART_BASE + UARTMIS);
    mmio_w32(UART_BASE + UARTIMSC, 0);           /* as a driver with nothing left to send */
    mmio_w32(UART_BASE + UARTICR, INT_TX);
    irqs++;
}

int main(void)
{
    u32 id[8];
    for (int i = 0; i < 8; i++)
        id[i] = mmio_r32(UART_BASE + 0xfe0 + 4 * i) & 0xff;
    u32 periph = id[0] | id[1] << 8 | id[2] << 16 | id[3] << 24;
    u32 cell = id[4] | id[5] << 8 | id[6] << 16 | id[7] << 24;
    print("uart: PeriphID part 0x%03x designer 0x%02x, PCellID 0x%08x\n", periph & 0xfff,
          (periph >> 12) & 0xff, cell);
    CHECK_EQ(periph & 0xfffff, 0x41011, "PL011 part number and designer (ARM)");
    CHECK_EQ(cell, 0xb105f00d, "PrimeCell ID");
    u32 cr = mmio_r32(UART_BASE + UARTCR);
    print("UARTCR 0x%x\n", cr);
    CHECK_EQ(cr, 0x301, "UARTCR as uart_init wrote it");

    gic_dist_init();
    gic_cpu_init();
    gic_route_spi(UART_INTID, 0);
    gic_enable(UART_INTID);

    /* idle: transmitter empty, nothing received; then the TX interrupt state machine */
    u32 fr = mmio_r32(UART_BASE + UARTFR);
    mmio_w32(UART_BASE + UARTICR, 0x7ff);
    u32 ris0 = mmio_r32(UART_BASE + UARTRIS) & INT_TX;
    mmio_w32(UART_BASE + UARTDR, '.');
    u32 ris1 = mmio_r32(UART_BASE + UARTRIS) & INT_TX;
    u32 mis1 = mmio_r32(UART_BASE + UARTMIS) & INT_TX;
    int pend1 = gic_pending(UART_INTID);
    mmio_w32(UART_BASE + UARTIMSC, INT_TX);
    u32 mis2 = mmio_r32(UART_BASE + UARTMIS) & INT_TX;
    int pend2 = gic_pending(UART_INTID);
    irq_enable();
    for (int i = 0; i < 1000 && !irqs; i++)
        delay_us(10);
    irq_disable();
    int pend3 = gic_pending(UART_INTID);
    u32 ris3 = mmio_r32(UART_BASE + UARTRIS) & INT_TX;
    print("\nUARTFR idle: TXFE %u RXFE %u TXFF %u BUSY %u\n", (fr >> 7) & 1, (fr >> 4) & 1,
          (fr >> 5) & 1, (fr >> 3) & 1);
    CHECK_EQ(fr & 0xb8, 0x90, "UARTFR at idle (TXFE, RXFE)");
    print("TXRIS after ICR %u, after a write %u; MIS masked %u; GIC pending %d\n", !!ris0, !!ris1,
          !!mis1, pend1);
    CHECK(!ris0 && ris1, "TXRIS: cleared by UARTICR, raised by a write to UARTDR");
    CHECK(!mis1 && !pend1, "masked TX interrupt signalled");
    print("TXIM set: MIS %u, GIC pending %d; taken %u INTID %u MIS in handler 0x%x; "
          "after ICR: RIS %u pending %d\n", !!mis2, pend2, irqs, irq_intid, mis_in_handler,
          !!ris3, pend3);
    CHECK(mis2 && pend2, "TX interrupt not signalled with TXIM");
    CHECK(irqs == 1 && irq_intid == UART_INTID, "TX interrupt not taken as INTID 33");
    CHECK_EQ(mis_in_handler & INT_TX, INT_TX, "UARTMIS in the handler");
    CHECK(!ris3 && !pend3, "TX interrupt not cleared by UARTICR");
    return 0;
}
