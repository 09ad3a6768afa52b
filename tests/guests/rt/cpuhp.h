/* The board's ACPI Generic Event Device and CPU-hotplug register block, as the guests that
 * do CPU hotplug without ACPI drive them (see dbt/machine/ged.py and cpuhp.py). */
#ifndef CPUHP_H
#define CPUHP_H

#define GED_BASE 0x09080000UL
#define GED_SPI 9
#define GED_INTID (32 + GED_SPI)
#define GED_CPU_HOTPLUG 0x8            /* ESEL bit of a CPU-hotplug event */
#define CPUHP_BASE 0x090C0000UL
#define CPUHP_SEL 0x0
#define CPUHP_FLAGS 0x4
#define CPUHP_CMD 0x5
#define CPUHP_DATA 0x8
#define CPEN 1                         /* flags read: enabled, insert event, remove event */
#define CINS 2
#define CRMV 4
#define CEJ0 8                         /* flags write: eject */
#define POSSIBLE 4                     /* the guests run with --maxcpus 4 */

#endif
