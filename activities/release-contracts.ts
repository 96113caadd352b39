import type { BreakingChange, ContractVersion } from '../domain/contract-verdict';
import { verdict } from '../domain/contract-verdict';
import type { RolloutPlan } from '../domain/plan';
import type { RecordedContracts } from '../domain/recorded-contracts';
import { unitRolloutId, type ContractText, type ReleaseService } from '../domain/release';
import { sha256Hex } from '../domain/stateful';
import { consumerNeeds, contractBreaking } from './contracts/check';
import type { DriverRegistry } from './drivers';
import type { PreflightProblem, RegionRef } from './types';

export interface ReleaseContractsInput {
  rolloutId: string;
  plan: RolloutPlan;
  /** The rollout's regions in order. */
  order: string[];
}

/** A dependency strong enough that a provider's old version is gone from the region before the dependent's canary starts. */
const REPLACES_OLD = new Set(['promoted', 'baked']);

function refOf(input: ReleaseContractsInput, s: ReleaseService, region: string, step: string): RegionRef {
  return { rolloutId: unitRolloutId(input.rolloutId, input.plan, s.name), service: s.name, region, target: s.plan.regions[region]!.target, key: `${input.rolloutId}/${region}/${s.name}/${step}` };
}

const versionOf = (c: ContractText): ContractVersion => ({ contract: c.contract, kind: c.kind, files: c.files, ...(c.entry ? { entry: c.entry } : {}) });
const same = (a: ContractText, b: ContractText) => JSON.stringify([a.files, a.entry]) === JSON.stringify([b.files, b.entry]);

/**
 * The release's contract checks against what each region runs now: the version recorded when
 * Meridian last promoted the provider there, else the spec's `running` files. Refuses a breaking
 * change that a consumer still running the old version would meet, a consumer whose new version
 * needs what only the new provider has without a `dependsOn` that waits for the provider's
 * promotion, and a consumer the new provider does not serve at all. Every problem names the
 * contract, the elements, the versions and the regions.
 */
export async function checkReleaseContracts(input: ReleaseContractsInput, drivers: DriverRegistry): Promise<PreflightProblem[]> {
  const release = input.plan.release;
  if (!release) return [];
  const memo = new Map<string, Promise<BreakingChange[]>>();
  const cached = (kind: 'breaking' | 'needs', a: ContractText, b: ContractText) => {
    const key = sha256Hex(JSON.stringify([kind, a.contract, a.files, a.entry, b.files, b.entry]));
    if (!memo.has(key)) memo.set(key, kind === 'breaking' ? contractBreaking(versionOf(a), versionOf(b)) : consumerNeeds(versionOf(a), versionOf(b)));
    return memo.get(key)!;
  };
  const records = new Map<string, Promise<RecordedContracts | undefined>>();
  const recorded = (s: ReleaseService, region: string) => {
    const key = `${s.name}/${region}`;
    if (!records.has(key)) records.set(key, drivers.of(s.plan.regions[region]!.target).readContracts?.(refOf(input, s, region, 'read-contracts')) ?? Promise.resolve(undefined));
    return records.get(key)!;
  };
  const problems: PreflightProblem[] = [];
  for (const provider of release.services) {
    for (const next of provider.contracts.provides) {
      const consumers = release.services.filter((c) => c.name !== provider.name && c.contracts.consumes.some((k) => k.contract === next.contract));
      const old = new Map<string, { version: string; regions: string[] }>();
      const byElement = new Map<string, BreakingChange[]>();
      let from = '';
      for (const region of input.order.filter((r) => provider.plan.regions[r])) {
        const record = await recorded(provider, region);
        const running = record?.provides.find((p) => p.contract === next.contract) ?? next.running;
        const here = consumers.filter((c) => c.plan.regions[region]);
        if (!running) {
          if (here.length) problems.push({ region, message: `contract "${next.contract}": Meridian has no record of the version ${provider.name} runs in ${region} and the spec names none; give it under the provider's provides[].running` });
          continue;
        }
        from = record?.version ?? 'running now';
        const breaking = same(running, next) ? [] : await cached('breaking', running, next);
        for (const c of here) {
          const expects = c.contracts.consumes.find((k) => k.contract === next.contract)!;
          const waits = c.dependsOn.find((d) => d.service === provider.name);
          const oldGoneFirst = provider.dependsOn.some((d) => d.service === c.name && REPLACES_OLD.has(d.until));
          if (breaking.length && !oldGoneFirst) {
            const cv = (await recorded(c, region))?.version ?? 'running now';
            const entry = old.get(`${c.name}@${cv}`) ?? { version: cv, regions: [] };
            entry.regions.push(region);
            old.set(`${c.name}@${cv}`, entry);
            for (const b of breaking) byElement.set(b.element, [...(byElement.get(b.element) ?? []), b]);
          }
          if (Object.keys(expects.files).length === 0) continue;
          const needsOld = await cached('needs', { ...expects, kind: next.kind }, running);
          if (needsOld.length && !(waits && REPLACES_OLD.has(waits.until))) {
            const index = release.services.indexOf(c);
            problems.push({
              region,
              message: `contract "${next.contract}": ${c.name} ${c.plan.version} needs ${elements(needsOld)}, which the ${provider.name} ${record ? `${record.version} ` : ''}running in ${region} does not provide; ${c.name} must wait for the new ${provider.name} to be promoted there: add {service: ${provider.name}, until: promoted} to services[${index}].dependsOn`,
            });
          }
          const needsNew = await cached('needs', { ...expects, kind: next.kind }, next);
          if (needsNew.length) {
            problems.push({ region, message: `contract "${next.contract}": ${c.name} ${c.plan.version} needs ${elements(needsNew)}, which the new ${provider.name} ${provider.plan.version} does not provide` });
          }
        }
      }
      const consumersLive = [...old.entries()].map(([key, v]) => ({ service: key.split('@')[0]!, version: v.version, regions: v.regions }));
      const changes = [...byElement.values()].map((found) => found[0]!);
      const v = verdict(changes, { contract: next.contract, provider: { service: provider.name, from, to: provider.plan.version }, consumers: consumersLive });
      if (!v.allow) problems.push({ message: v.message });
    }
  }
  return dedupe(problems);
}

const elements = (changes: BreakingChange[]) => [...new Set(changes.map((c) => c.element))].join(', ');

function dedupe(problems: PreflightProblem[]): PreflightProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.region ?? ''}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** What each service of the release now runs in `regions`, recorded through its target's driver. */
export async function recordReleaseContracts(input: ReleaseContractsInput & { regions: string[] }, drivers: DriverRegistry): Promise<void> {
  const release = input.plan.release;
  if (!release) return;
  const recordedAt = new Date().toISOString();
  await Promise.all(
    release.services.flatMap((s) =>
      input.regions
        .filter((r) => s.plan.regions[r])
        .map(async (region) => {
          const driver = drivers.of(s.plan.regions[region]!.target);
          if (!driver.recordContracts) return;
          const strip = ({ contract, kind, files, entry }: ContractText) => ({ contract, kind, files, ...(entry ? { entry } : {}) });
          await driver.recordContracts({
            ...refOf(input, s, region, 'record-contracts'),
            record: {
              service: s.name,
              region,
              version: s.plan.version,
              image: s.plan.image,
              recordedAt,
              provides: s.contracts.provides.map(strip),
              consumes: s.contracts.consumes.filter((c) => Object.keys(c.files).length > 0).map(strip),
            },
          });
        }),
    ),
  );
}
