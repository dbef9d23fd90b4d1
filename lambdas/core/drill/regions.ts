/**
 * One drill engine for both Regions of the backup account.
 *
 * A restore must happen in the Region of its copy (RDS, Aurora, EBS and AMI
 * restore only a snapshot of their own Region), so a second-hop copy is
 * drilled in the second Region's place, with that Region's clients and key.
 * Rather than a second engine, state machine and function there, each kind
 * keeps one {@link DrillModule} that hands every call to the module of the
 * subject's copy Region: the engine, the state machine, the plan, the log
 * and the alarms stay one, and the second Region only adds a place.
 *
 * The second Region's modules are made when a drill first needs them (its
 * place and key are found by name there), so a run with no second-hop copy,
 * or a vault whose second Region has no place yet, costs nothing until then.
 */
import type { DrillKind, DrillModule, DrillModules, DrillSubject } from './types';

/** The modules of one Region other than the vault's: made once, on the first drill there. */
export type RegionModules = (region: string) => Promise<DrillModules>;

/**
 * The kinds of `home` (the vault Region's modules), each handing a call to
 * `home` for a copy in `homeRegion` and to `other(copyRegion)` for any
 * other. A kind the other Region's modules lack fails the call, naming the
 * Region: the engine then fails the drill and alerts.
 */
export function modulesByCopyRegion(home: DrillModules, homeRegion: string, other: RegionModules): DrillModules {
  const routed: DrillModules = {};
  for (const [kind, module] of Object.entries(home) as [DrillKind, DrillModule][]) {
    const of = async (subject: DrillSubject): Promise<DrillModule> => {
      if (subject.copyRegion === homeRegion) return module;
      const there = (await other(subject.copyRegion))[kind];
      if (!there) throw new Error(`no ${kind} drill module in ${subject.copyRegion}`);
      return there;
    };
    routed[kind] = {
      kind,
      start: async (drillId, subject) => (await of(subject)).start(drillId, subject),
      progress: async (handle, subject) => (await of(subject)).progress(handle, subject),
      validate: async (handle, subject) => (await of(subject)).validate(handle, subject),
      tearDown: async (handle, subject) => {
        let there: DrillModule;
        try {
          there = await of(subject);
        } catch (error) {
          // No modules there (the place is missing) and no handle: the start failed before it made anything.
          if (Object.keys(handle).length === 0) return true;
          throw error;
        }
        return there.tearDown(handle, subject);
      },
    };
  }
  return routed;
}

/**
 * `make(region)` once per Region, kept once it succeeds: a failed making
 * (the place not found) is tried again by the next call, not remembered.
 */
export function oncePerRegion(make: RegionModules): RegionModules {
  const made = new Map<string, Promise<DrillModules>>();
  return (region) => {
    let modules = made.get(region);
    if (!modules) {
      modules = make(region);
      modules.catch(() => made.delete(region));
      made.set(region, modules);
    }
    return modules;
  };
}
