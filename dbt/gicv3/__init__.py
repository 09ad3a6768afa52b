"""GICv3 interrupt controller (ARM IHI 0069), split as the hardware is: the distributor
(SPIs), one redistributor per *possible* CPU (SGIs, PPIs) and one system-register CPU
interface per CPU.  Affinity routing is on and there is one Security state (GICD_CTLR.DS == 1,
as QEMU's virt without EL3): Group 0 interrupts raise FIQ, Group 1 interrupts raise IRQ.

Delivery is recomputed per PE: every change marks the PEs it can affect (an SPI marks the
PE its GICD_IROUTER names, a PPI or SGI its own PE), and at the end of each public operation
`flush()` recomputes the highest priority pending interrupt of each marked PE and calls its
`irq_out` / `fiq_out` callback if the line changed.
"""
from dbt.machine.device import commit_state as _commit_state, save_state as _save_state, \
    stage_state as _stage_state

from .common import GIC_INTERNAL, NUM_SGIS, affinity32
from .cpuif import READABLE, WRITABLE, CPUInterface
from .distributor import Distributor
from .redistributor import GICR_FRAME_SIZE, Redistributor, RedistributorRegion

__all__ = ["GICv3", "Distributor", "Redistributor", "RedistributorRegion", "CPUInterface",
           "GICR_FRAME_SIZE", "READABLE", "WRITABLE", "VIRT_NUM_SPIS"]

# QEMU's virt: NUM_IRQS = 256 external interrupts, i.e. INTIDs 32-287.
VIRT_NUM_SPIS = 256


class GICv3:
    def __init__(self, mpidrs: list, num_spis: int = VIRT_NUM_SPIS):
        if not mpidrs:
            raise ValueError("a GIC needs at least one CPU")
        affs = [affinity32(m) for m in mpidrs]
        if len(set(affs)) != len(affs):
            raise ValueError("two CPUs share an affinity")
        self.mpidrs = list(mpidrs)
        self.num_cpus = len(affs)
        self._cpu_by_aff = {a: i for i, a in enumerate(affs)}
        # Aff0 above 15 needs the SGI range selector (GICD_TYPER.RSS, ICC_CTLR_EL1.RSS).
        rss = any(a & 0xFF > 15 for a in affs)
        # Board-side state, owned by the machine: not in the snapshot.
        self.accessible = [True] * self.num_cpus
        self.irq_out = [None] * self.num_cpus      # callable(level: bool) per CPU
        self.fiq_out = [None] * self.num_cpus
        self._dirty = set()
        self.distributor = Distributor(self, num_spis, rss)
        self.num_irqs = self.distributor.num_irqs
        self.redistributors = RedistributorRegion(
            Redistributor(self, i, m, i == self.num_cpus - 1) for i, m in enumerate(mpidrs))
        self.cpuifs = [CPUInterface(self, i, rss) for i in range(self.num_cpus)]
        self.reset()

    # -- the machine's side --------------------------------------------------------------

    def set_irq(self, intid: int, level, cpu: int | None = None) -> None:
        """Drive an interrupt wire: an SPI (cpu ignored) or a PPI of CPU `cpu`."""
        if GIC_INTERNAL <= intid < self.num_irqs:
            self.distributor.set_level(intid, bool(level))
        elif NUM_SGIS <= intid < GIC_INTERNAL:
            if cpu is None or not 0 <= cpu < self.num_cpus:
                raise ValueError(f"PPI {intid} needs a CPU index")
            self.redistributors[cpu].set_level(intid, bool(level))
        else:
            raise ValueError(f"INTID {intid} is not a wired interrupt")
        self.flush()

    def cpuif_read(self, cpu: int, name: str) -> int:
        """MRS of ICC register `name` (a name of dbt.cpu.sysregs.SYSREGS in READABLE)."""
        value = self.cpuifs[cpu].read(name)
        self.flush()
        return value

    def cpuif_write(self, cpu: int, name: str, value: int) -> None:
        """MSR to ICC register `name` (in WRITABLE)."""
        self.cpuifs[cpu].write(name, value)
        self.flush()

    def set_accessible(self, cpu: int, accessible: bool) -> None:
        """Plug (True) or unplug (False) a CPU: an unplugged CPU's lines stay low, it takes no
        SGIs and no 1-of-N SPIs, SPIs routed to it stay pending; its registers still work."""
        accessible = bool(accessible)
        if self.accessible[cpu] != accessible:
            self.accessible[cpu] = accessible
            self.mark(cpu)
            self.flush()

    def lines(self, cpu: int) -> tuple:
        """(IRQ, FIQ) levels the GIC drives to `cpu` now."""
        c = self.cpuifs[cpu]
        return c.irq_level, c.fiq_level

    def reset(self) -> None:
        """Power-on reset of distributor, redistributors and every CPU interface."""
        self.distributor.power_on()
        for rd in self.redistributors:
            rd.power_on()
        for c in self.cpuifs:
            c.power_on()
        self.distributor.rebuild_routes()
        self.mark_all()
        self.flush()

    def cpuif_reset(self, cpu: int) -> None:
        """Reset one CPU interface: part of that CPU's reset (e.g. PSCI CPU_ON), as QEMU."""
        self.cpuifs[cpu].power_on()
        self.mark(cpu)
        self.flush()

    # -- snapshots -----------------------------------------------------------------------

    def components(self) -> list:
        """(name, component) for every block that declares STATE."""
        out = [("gicd", self.distributor)]
        out += [(f"gicr/{i}", rd) for i, rd in enumerate(self.redistributors)]
        out += [(f"icc/{i}", c) for i, c in enumerate(self.cpuifs)]
        return out

    def save_state(self) -> dict:
        return {name: _save_state(obj) for name, obj in self.components()}

    def stage_state(self, state) -> list:
        """Check a saved state against every block without changing any: returns what
        commit_state applies, or raises ValueError."""
        if not isinstance(state, dict):
            raise ValueError("GICv3: state is not a map")
        comps = self.components()
        missing = [name for name, _ in comps if name not in state]
        if missing:
            raise ValueError(f"GICv3: state lacks {', '.join(missing)}")
        staged = []
        for name, obj in comps:
            _check_shapes(name, obj, state[name])
            staged.append((obj, _stage_state(obj, state[name])))
        return staged

    def commit_state(self, staged: list) -> None:
        """Apply what stage_state returned, then recompute delivery."""
        for obj, values in staged:
            _commit_state(obj, values)
        for obj, _ in staged:
            obj.post_load()
        self.mark_all()
        self.flush()

    def load_state(self, state: dict) -> None:
        """Load every block, or none if any part does not match."""
        self.commit_state(self.stage_state(state))

    # -- for the blocks ------------------------------------------------------------------

    def cpu_index(self, aff32: int) -> int:
        """CPU index of the PE with affinity Aff3.Aff2.Aff1.Aff0, or -1."""
        return self._cpu_by_aff.get(aff32, -1)

    def mark(self, cpu: int) -> None:
        self._dirty.add(cpu)

    def mark_all(self) -> None:
        self._dirty.update(range(self.num_cpus))

    def flush(self) -> None:
        """Recompute delivery for the marked PEs; line callbacks run from here."""
        dirty = self._dirty
        while dirty:
            self.cpuifs[dirty.pop()].update()


def _check_shapes(name: str, obj, state: dict) -> None:
    """Refuse, before anything is applied, values load_state would take but the blocks
    cannot use: byte arrays of another length, lists holding non-integers."""
    if not isinstance(state, dict):
        raise ValueError(f"GICv3 {name}: state is not a map")
    for attr in obj.STATE:
        cur, new = getattr(obj, attr), state.get(attr)
        if isinstance(cur, (bytes, bytearray)):
            ok = isinstance(new, (bytes, bytearray)) and len(new) == len(cur)
        elif isinstance(cur, list):
            ok = isinstance(new, (list, tuple)) and len(new) == len(cur) \
                and all(isinstance(x, int) and x >= 0 for x in new)
        else:
            ok = isinstance(new, int) and new >= 0
        if not ok:
            raise ValueError(f"GICv3 {name}.{attr}: value does not match")

