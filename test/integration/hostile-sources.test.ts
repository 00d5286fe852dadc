/**
 * Issue 9, part A end to end: hping3 in the namespace sends datagrams with forged sources into
 * the TUN device. A self-addressed UDP datagram to the echo port and a LAND SYN (source = the
 * stack's own address) must leave the stack idle and unanswered; a SYN from a multicast source
 * must draw no SYN-ACK. "Unanswered" is checked with tcpdump on the device (bounded in time) and
 * the stack's drop counters; "idle" with the CPU time of the stack's processes from /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declareRootRequirement, isRoot } from './root.js';
import { startStackInNamespace, type StackInNamespace } from './harness.js';

declareRootRequirement();

/** utime + stime in seconds of `pid` and every process below it (the CLI runs tsx, which runs node). */
function processTreeCpuSeconds(pid: number): number {
  const ticksPerSecond = 100; // USER_HZ on Linux
  let ticks = 0;
  const pending = [pid];
  while (pending.length > 0) {
    const current = pending.pop()!;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${current}/stat`, 'utf8');
    } catch {
      continue; // gone
    }
    // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
    for (const task of readdirSync(`/proc/${current}/task`)) {
      try {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (children !== '') pending.push(...children.split(' ').map(Number));
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return ticks / ticksPerSecond;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!isRoot)('hostile sources over a TUN device', () => {
  let env: StackInNamespace;
  beforeAll(async () => {
    env = await startStackInNamespace();
  });
  afterAll(async () => {
    await env?.stop();
  });

  /**
   * Run hping3 with `args` while tcpdump watches the device for anything the stack sends, for a
   * bounded 4 s (`-Q in`: what enters the kernel from the device, not hping3's own packet). Returns the packets the stack sent meanwhile and the CPU seconds it used from
   * just before hping3 until 2 s after it.
   */
  async function probe(args: string[]): Promise<{ sent: string[]; cpuSeconds: number; hping: string }> {
    const capture = env.exec('timeout', ['4', 'tcpdump', '-i', env.tun, '-Q', 'in', '-n', '-l', '-p', `src host ${env.stackAddress}`], {
      timeoutMs: 10_000,
    });
    await sleep(1000); // tcpdump is listening
    const before = processTreeCpuSeconds(env.cliPid);
    const hping = await env.exec('hping3', [...args, '-c', '1', env.stackAddress], { timeoutMs: 10_000 });
    await sleep(2000);
    const cpuSeconds = processTreeCpuSeconds(env.cliPid) - before;
    const dump = await capture;
    const sent = dump.stdout.split('\n').filter((line) => line.trim() !== '');
    return { sent, cpuSeconds, hping: `${hping.code} ${hping.stdout} ${hping.stderr}` };
  }

  it('drops a spoofed self-addressed UDP datagram to the echo port: no answer, no loop', async () => {
    const { sent, cpuSeconds, hping } = await probe(['--udp', '-a', env.stackAddress, '-s', '7', '-k', '-p', '7', '-d', '8']);
    expect(hping).toMatch(/^0 /);
    expect(sent).toEqual([]);
    expect(cpuSeconds).toBeLessThan(0.3);
    const stats = await env.stats();
    expect(stats.counters.ip?.['drop.martian_source_self']).toBeGreaterThanOrEqual(1);
    expect(stats.counters.ip?.['drop.local_loop_limit'] ?? 0).toBe(0);
  });

  it('drops a LAND SYN to port 80: no answer, no loop of ACKs', async () => {
    const before = (await env.stats()).counters.ip?.['drop.martian_source_self'] ?? 0;
    const { sent, cpuSeconds } = await probe(['-S', '-a', env.stackAddress, '-s', '80', '-k', '-p', '80']);
    expect(sent).toEqual([]);
    expect(cpuSeconds).toBeLessThan(0.3);
    const stats = await env.stats();
    expect(stats.counters.ip?.['drop.martian_source_self']).toBe(before + 1);
  });

  it('draws no SYN-ACK for a SYN from 224.0.0.5', async () => {
    const { sent } = await probe(['-S', '-a', '224.0.0.5', '-p', '80']);
    expect(sent).toEqual([]);
    const stats = await env.stats();
    expect(stats.counters.ip?.['drop.martian_source_multicast']).toBeGreaterThanOrEqual(1);
  });

  it('still answers an ordinary SYN from the namespace (the probe can see an answer)', async () => {
    const { sent } = await probe(['-S', '-p', '80']);
    expect(sent.some((line) => line.includes(`${env.stackAddress}.80 >`))).toBe(true);
  });
});
