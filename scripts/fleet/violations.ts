export type Violations = Record<string, number>;

const MAX_EXAMPLES = 20;

/** Invariant violations by kind, with the first few described in simulation terms. */
export class ViolationLog {
  private readonly byKind = new Map<string, number>();
  private readonly described: string[] = [];

  constructor(private readonly when: (atMs: number) => string) {}

  add(kind: string, atMs: number, detail: string): void {
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
    if (this.described.length < MAX_EXAMPLES) {
      this.described.push(`${kind} at ${this.when(atMs)}: ${detail}`);
    }
  }

  total(): number {
    let sum = 0;
    for (const count of this.byKind.values()) sum += count;
    return sum;
  }

  counts(): Violations {
    return Object.fromEntries([...this.byKind].sort(([a], [b]) => a.localeCompare(b)));
  }

  examples(): string[] {
    return [...this.described];
  }
}
