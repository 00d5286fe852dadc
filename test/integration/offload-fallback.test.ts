/**
 * When the kernel refuses a step of the offload negotiation (IFF_VNET_HDR on TUNSETIFF,
 * TUNSETVNETHDRSZ, TUNSETOFFLOAD), openTun opens the device again without the virtio-net header
 * and says why (TunDevice.offloadRefused); traffic then flows in MTU-sized packets both ways. The
 * refusals are made by a libc whose ioctl fails for the chosen request (TunOptions.libc), over a
 * real TUN device in this process's namespace, with the kernel's own TCP at the other end.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../../src/api/net.js';
import { Stack } from '../../src/stack.js';
import {
  errnoNumbers,
  IFF_VNET_HDR,
  IFNAMSIZ,
  libc,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  TUN_F_USO4,
  type LibcBindings,
} from '../../src/tun/libc.js';
import { openTun, type TunDevice } from '../../src/tun/tun-device.js';
import { pattern } from '../support/stack-pair.js';
import { uniqueName } from './harness.js';
import { declareRootRequirement, isRoot } from './root.js';

declareRootRequirement();

const execFileAsync = promisify(execFile);

/** Which ioctl to refuse: its request number and argument (a pointer's bytes, or the value itself). */
type Refusal = (request: number, argument: Uint8Array | Int32Array | number) => boolean;

/** The process's libc, except that the ioctls `refuse` picks fail with EINVAL without reaching the kernel. */
function refusingLibc(refuse: Refusal): { sys: LibcBindings; refused: () => number } {
  const real = libc();
  let refusedCount = 0;
  let lastRefused = false;
  const refusing = (request: number, argument: Uint8Array | Int32Array | number, call: () => number): number => {
    lastRefused = refuse(request, argument);
    if (!lastRefused) return call();
    refusedCount++;
    return -1;
  };
  return {
    sys: {
      ...real,
      ioctlPointer: (fd, request, argument) => refusing(request, argument, () => real.ioctlPointer(fd, request, argument)),
      ioctlValue: (fd, request, value) => refusing(request, value, () => real.ioctlValue(fd, request, value)),
      errno: () => (lastRefused ? errnoNumbers.EINVAL! : real.errno()),
    },
    refused: () => refusedCount,
  };
}

/** ifr_flags of a TUNSETIFF argument: a native-endian short after the 16-byte name. */
function ifreqFlags(argument: Uint8Array | Int32Array | number): number {
  return typeof argument === 'number' ? 0 : new Int16Array(argument.buffer, argument.byteOffset + IFNAMSIZ, 1)[0]!;
}

const CASES: Array<{ step: string; refuse: Refusal; refusedCalls: number; reason: RegExp | undefined }> = [
  {
    step: 'IFF_VNET_HDR on TUNSETIFF',
    refuse: (request, argument) => request === TUNSETIFF && (ifreqFlags(argument) & IFF_VNET_HDR) !== 0,
    refusedCalls: 1,
    reason: /^IFF_VNET_HDR refused: .*EINVAL/,
  },
  {
    step: 'TUNSETVNETHDRSZ',
    refuse: (request) => request === TUNSETVNETHDRSZ,
    refusedCalls: 1,
    reason: /^TUNSETVNETHDRSZ refused: EINVAL$/,
  },
  {
    // Both tries: with the UDP bits, then without.
    step: 'TUNSETOFFLOAD',
    refuse: (request) => request === TUNSETOFFLOAD,
    refusedCalls: 2,
    reason: /^TUNSETOFFLOAD refused: EINVAL$/,
  },
  {
    // An older kernel (before 6.2) without UDP segmentation: the TCP offloads stay on.
    step: 'the USO bits of TUNSETOFFLOAD only',
    refuse: (request, argument) => request === TUNSETOFFLOAD && typeof argument === 'number' && (argument & TUN_F_USO4) !== 0,
    refusedCalls: 1,
    reason: undefined,
  },
];

/** Echo every connection's bytes back until its end of stream, then close. */
async function serveEcho(stack: Stack, port: number): Promise<() => void> {
  const listener = await listen('tcp', `:${port}`, { stack });
  void (async () => {
    for await (const conn of listener) {
      void (async () => {
        const buffer = new Uint8Array(65536);
        for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) await conn.write(buffer.subarray(0, n));
        conn.close();
      })();
    }
  })();
  return () => listener.close();
}

/** From the kernel's TCP: write `data` to host:port, half-close, and collect what comes back. */
function kernelEcho(host: string, port: number, data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host, port }, () => socket.end(data));
    socket.setTimeout(30_000, () => socket.destroy(new Error('echo timed out')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => resolve(Buffer.concat(chunks)));
  });
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe.skipIf(!isRoot)('offload negotiation refused by the kernel (root)', () => {
  const stacks: Stack[] = [];
  const devices: TunDevice[] = [];
  afterEach(async () => {
    await Promise.all(stacks.splice(0).map((stack) => stack.close(0)));
    await Promise.all(devices.splice(0).map((device) => device.close()));
  });

  for (const { step, refuse, refusedCalls, reason } of CASES) {
    it(`${step}: ${reason === undefined ? 'keeps the TCP offloads' : 'falls back to plain packets'} and echoes 2 MiB with the kernel's TCP`, async () => {
      const third = 1 + Math.floor(Math.random() * 254);
      const [host, peer] = [`10.232.${third}.1`, `10.232.${third}.2`];
      const { sys, refused } = refusingLibc(refuse);
      const device = await openTun({ name: uniqueName('tsnofb'), configure: { hostCidr: `${host}/24` }, libc: sys });
      devices.push(device);
      expect(refused()).toBe(refusedCalls);
      const fellBack = reason !== undefined;
      expect(device.offload).toBe(!fellBack);
      if (fellBack) expect(device.offloadRefused).toMatch(reason);
      else expect(device.offloadRefused).toBeUndefined();
      // What the kernel has: the device itself says whether packets carry the header.
      const { stdout } = await execFileAsync('ip', ['-d', 'link', 'show', 'dev', device.name]);
      expect(stdout).toContain(fellBack ? 'vnet_hdr off' : 'vnet_hdr on');

      const stack = new Stack({ link: device, address: peer, linkStats: () => device.stats() });
      stacks.push(stack);
      const stop = await serveEcho(stack, 7);
      try {
        const data = pattern(2 * 1024 * 1024, third);
        const echoed = await kernelEcho(peer, 7, data);
        expect(echoed.length).toBe(data.length);
        expect(sha256(echoed)).toBe(sha256(data));
      } finally {
        stop();
      }
      const stats = device.stats();
      expect(stats.dropsInBadOffload).toBe(0);
      expect(stats.dropsOutInvalid).toBe(0);
      const superSegments = stack.counters('tcp').snapshot().super_segments_sent ?? 0;
      if (fellBack) {
        // No super-segment went out, and every packet in was MTU-sized: the kernel segmented its
        // TCP itself, so at least one packet per 1460 bytes of the 2 MiB came in.
        expect(stats.superSegmentsOut).toBe(0);
        expect(superSegments).toBe(0);
        expect(stats.packetsIn).toBeGreaterThanOrEqual((2 * 1024 * 1024) / 1460);
      } else {
        expect(stats.superSegmentsOut).toBeGreaterThan(0);
        expect(superSegments).toBe(stats.superSegmentsOut);
      }
    }, 60_000);
  }
});
