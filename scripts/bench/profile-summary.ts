/**
 * `tsx scripts/bench/profile-summary.ts FILE.cpuprofile [--top N] [--focus FUNCTION]`: where a V8 CPU profile (from
 * `node --cpu-prof`, e.g. `NODE_OPTIONS=--cpu-prof npm run bench -- --only issuance`) spent its
 * time: self time by function, self time by package or source file, and inclusive (total) time
 * of the project's own functions. Used for the findings in bench/NOTES.md.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function where(frame: CallFrame): string {
  const url = frame.url.replace(/^file:\/\//, '');
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  if (url.startsWith('node:')) return url;
  const project = url.search(/\/(shared|ca-service|agent|scripts)\//);
  return project >= 0 ? url.slice(project + 1) : url;
}

const label = (frame: CallFrame) =>
  `${frame.functionName || '(anonymous)'}  ${where(frame)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;

/**
 * `focus`: only samples with a frame of that function name on the stack count (e.g.
 * `enrollDevice`), so one benchmark's share can be read out of a profile of a whole run.
 */
export function summarise(profile: CpuProfile, top = 25, focus?: string): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const focused = (id: number) => {
    if (focus === undefined) return true;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (byId.get(at)?.callFrame.functionName === focus) return true;
    }
    return false;
  };
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    // V8 attributes each delta to the sample after it.
    const delta = profile.timeDeltas[i + 1] ?? 0;
    if (focused(id)) selfTime.set(id, (selfTime.get(id) ?? 0) + delta);
  });
  const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
  const idle = [...selfTime]
    .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
    .reduce((sum, [, time]) => sum + time, 0);
  const busy = total - idle;

  const selfByFunction = new Map<string, number>();
  const selfByPlace = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, time] of selfTime) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === '(idle)') continue;
    selfByFunction.set(
      label(node.callFrame),
      (selfByFunction.get(label(node.callFrame)) ?? 0) + time,
    );
    const place = where(node.callFrame);
    selfByPlace.set(place, (selfByPlace.get(place) ?? 0) + time);
    // Inclusive: every distinct project frame on the stack gets the sample once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || !/\/(shared|ca-service|agent)\/(src|dist)\//.test(frame.url)) continue;
      const key = label(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + time);
    }
  }
  const pct = (time: number) => `${((100 * time) / busy).toFixed(1).padStart(5)}%`;
  const list = (title: string, map: Map<string, number>, n: number) =>
    [
      title,
      ...[...map]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(
          ([name, time]) => `  ${pct(time)}  ${(time / 1000).toFixed(0).padStart(7)} ms  ${name}`,
        ),
    ].join('\n');
  return [
    `${focus === undefined ? '' : `under ${focus}(): `}busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s sampled (percentages of busy time)`,
    list('self time by package / file:', selfByPlace, top),
    list('self time by function:', selfByFunction, top),
    list('inclusive time, project functions:', inclusive, top),
  ].join('\n\n');
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const file = process.argv[2];
  if (!file) {
    console.error(
      'usage: tsx scripts/bench/profile-summary.ts FILE.cpuprofile [--top N] [--focus FUNCTION]',
    );
    process.exit(2);
  }
  const option = (name: string) => {
    const at = process.argv.indexOf(name);
    return at > 0 ? process.argv[at + 1] : undefined;
  };
  const top = Number(option('--top') ?? 25);
  const focus = option('--focus');
  console.log(summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top, focus));
}
