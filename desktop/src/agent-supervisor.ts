import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import type { AgentClient } from './agent-client.js';

export type DaemonState = 'stopped' | 'starting' | 'running' | 'restarting' | 'failed';

export interface AgentSupervisorOptions {
  /** The program and arguments that run `lantern-agent serve --data-dir D --port P`. */
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  client: AgentClient;
  /** How long a start may take before it counts as failed. 20 s. */
  readyTimeoutMs?: number;
  /** First restart delay; doubles up to `maxRestartDelayMs`. 500 ms. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** Crashes in a row, each before the daemon was ready, after which it gives up. 5. */
  maxFailedStarts?: number;
  onState?: (state: DaemonState) => void;
  /** The daemon's stderr (its JSON request log), line by line. */
  onLog?: (line: string) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the agent daemon as a child process and keeps it running (issue 23): the shell is a
 * window onto the daemon, which owns the store, the keys and sync, so a crash of either side
 * does not take the other's state with it. A daemon that dies is started again with backoff;
 * one that keeps dying before it answers is given up on (`failed`), which the tray shows.
 */
export class AgentSupervisor {
  private child: ChildProcess | null = null;
  private state: DaemonState = 'stopped';
  private stopping = false;
  private failedStarts = 0;
  private delayMs: number;
  private readonly options: AgentSupervisorOptions;

  constructor(options: AgentSupervisorOptions) {
    this.options = options;
    this.delayMs = options.restartDelayMs ?? 500;
  }

  get current(): DaemonState {
    return this.state;
  }

  /** The daemon's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the daemon and resolves once it answers; rejects if it never does. */
  async start(): Promise<void> {
    this.stopping = false;
    this.failedStarts = 0;
    await this.launch('starting');
  }

  /** Asks the daemon to stop (SIGTERM: it finishes its sync run), then kills it if it hangs. */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      this.setState('stopped');
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    this.setState('stopped');
  }

  private async launch(state: 'starting' | 'restarting'): Promise<void> {
    this.setState(state);
    const child = spawn(this.options.command, [...this.options.args], {
      env: this.options.env ?? process.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let buffered = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line !== '') this.options.onLog?.(line);
    });
    const exited = new Promise<'exited'>((resolve) => child.once('exit', () => resolve('exited')));
    child.once('exit', () => {
      if (this.child === child) this.child = null;
      if (!this.stopping) void this.restart();
    });
    const ready = await Promise.race([this.waitReady(child), exited]);
    if (ready !== 'ready') {
      throw new Error(`the agent daemon did not start (${ready})`);
    }
    this.failedStarts = 0;
    this.delayMs = this.options.restartDelayMs ?? 500;
    this.setState('running');
  }

  private async waitReady(child: ChildProcess): Promise<'ready' | 'timeout'> {
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 20_000);
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (await this.options.client.alive()) return 'ready';
      await sleep(100);
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return 'timeout';
  }

  private async restart(): Promise<void> {
    const wasRunning = this.state === 'running';
    if (!wasRunning) this.failedStarts += 1;
    if (this.failedStarts >= (this.options.maxFailedStarts ?? 5)) {
      this.setState('failed');
      return;
    }
    this.setState('restarting');
    await sleep(this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, this.options.maxRestartDelayMs ?? 30_000);
    if (this.stopping) return;
    await this.launch('restarting').catch(() => undefined);
  }

  private setState(state: DaemonState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onState?.(state);
  }
}
