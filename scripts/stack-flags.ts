/**
 * The stack flags of the CLI contract (docs/ARCHITECTURE.md, "The CLI contract"), parsed once for
 * the CLI and the example programs alike. Bad flags print one line and exit 2.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseCidr, parseIPv4Address } from '../src/wire/address.js';
import { IPV4_MAX_DATAGRAM, IPV4_MIN_MTU } from '../src/wire/ipv4.js';
import { parseImpairSpec } from '../src/link/impair.js';
import { isLogLevel, type LogLevel } from '../src/log.js';
import { NetError } from '../src/errors.js';
import { checkIPv6Addresses, DEFAULT_ADDRESS6, DEFAULT_HOST_CIDR6, openStack, type OpenStackOptions } from '../src/open.js';
import { tcpConfigForLink } from '../src/stack.js';

export const STACK_FLAGS_USAGE =
  '[--tun NAME] [--host-addr CIDR] [--addr IP] [--host-addr6 CIDR] [--addr6 IP] [--no-ipv6] [--mtu N] [--pcap FILE] [--no-configure] [--log LEVEL] [--impair SPEC] [--offload on|off] [--device-netns NAME] [--route CIDR]...';

export interface StackFlags {
  tun: string;
  hostCidr: string;
  addr: string;
  /** The kernel side's IPv6 address and prefix; undefined with --no-ipv6. */
  hostCidr6: string | undefined;
  /** The stack's IPv6 address; undefined with --no-ipv6. */
  addr6: string | undefined;
  mtu: number;
  pcap: string | undefined;
  configure: boolean;
  log: LogLevel;
  impair: string | undefined;
  /** Virtio-net offloads on the TUN device (checksum, TSO), falling back when the kernel refuses. */
  offload: boolean;
  /** The existing network namespace the device is put in and configured (the process stays). */
  deviceNetns: string | undefined;
  /** Routes via the device, in the device's namespace. */
  routes: string[];
}

export function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

export type ExtraOptions = Record<string, { type: 'string'; default?: string } | { type: 'boolean'; default?: boolean }>;

/** Parse argv (without node and script) into stack flags plus the caller's own string/boolean flags. */
export function parseStackFlags(
  argv: string[],
  usage: string,
  extra: ExtraOptions = {},
): { flags: StackFlags; extra: Record<string, string | boolean | undefined> } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        tun: { type: 'string', default: 'tun0' },
        'host-addr': { type: 'string', default: '10.0.0.1/24' },
        addr: { type: 'string', default: '10.0.0.2' },
        'host-addr6': { type: 'string' },
        addr6: { type: 'string' },
        'no-ipv6': { type: 'boolean', default: false },
        mtu: { type: 'string', default: '1500' },
        pcap: { type: 'string' },
        'no-configure': { type: 'boolean', default: false },
        log: { type: 'string', default: 'info' },
        impair: { type: 'string' },
        offload: { type: 'string', default: 'on' },
        'device-netns': { type: 'string' },
        route: { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean', short: 'h', default: false },
        ...extra,
      },
    });
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)} (usage: ${usage})`);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    process.stdout.write(`usage: ${usage}\n`);
    process.exit(0);
  }
  const tun = values.tun as string;
  if (tun.length === 0 || tun.length > 15 || !/^[A-Za-z0-9_.-]+$/.test(tun))
    fail(`--tun ${tun}: a device name is 1-15 letters, digits, '_', '.' or '-'`);
  const hostCidr = values['host-addr'] as string;
  const host = parseCidr(hostCidr);
  if (!host) fail(`--host-addr ${hostCidr}: expected an IPv4 CIDR like 10.0.0.1/24`);
  const addr = values.addr as string;
  const stackAddress = parseIPv4Address(addr);
  if (stackAddress === undefined) fail(`--addr ${addr}: expected an IPv4 address like 10.0.0.2`);
  if (stackAddress === host.address) fail(`--addr ${addr} is the same as the host side's address`);
  const mtuText = values.mtu as string;
  const mtu = Number(mtuText);
  if (!/^\d+$/.test(mtuText) || mtu < IPV4_MIN_MTU || mtu > IPV4_MAX_DATAGRAM)
    fail(`--mtu ${mtuText}: expected an integer from ${IPV4_MIN_MTU} to ${IPV4_MAX_DATAGRAM}`);
  try {
    // What the stack would refuse (segments with their options that cannot fit), refused before
    // the device is made.
    tcpConfigForLink(mtu);
  } catch (error) {
    fail(`--mtu ${mtuText}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const noIPv6 = values['no-ipv6'] === true;
  const hostCidr6Given = values['host-addr6'] as string | undefined;
  const addr6Given = values.addr6 as string | undefined;
  if (noIPv6 && (hostCidr6Given !== undefined || addr6Given !== undefined))
    fail(`--no-ipv6 conflicts with ${hostCidr6Given !== undefined ? '--host-addr6' : '--addr6'}`);
  const hostCidr6 = noIPv6 ? undefined : (hostCidr6Given ?? DEFAULT_HOST_CIDR6);
  const addr6 = noIPv6 ? undefined : (addr6Given ?? DEFAULT_ADDRESS6);
  if (hostCidr6 !== undefined && addr6 !== undefined) {
    try {
      checkIPv6Addresses(addr6, hostCidr6, mtu);
    } catch (error) {
      fail(error instanceof NetError ? error.detail : String(error));
    }
  }
  const log = values.log as string;
  if (!isLogLevel(log)) fail(`--log ${log}: expected error, warn, info or debug`);
  const impair = values.impair as string | undefined;
  if (impair !== undefined) {
    try {
      parseImpairSpec(impair);
    } catch (error) {
      fail(`--impair ${impair}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const offloadText = values.offload as string;
  if (offloadText !== 'on' && offloadText !== 'off') fail(`--offload ${offloadText}: expected on or off`);
  const deviceNetns = values['device-netns'] as string | undefined;
  if (deviceNetns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(deviceNetns))
    fail(`--device-netns ${deviceNetns}: expected the name of a network namespace (ip netns list)`);
  if (deviceNetns !== undefined && !existsSync(`/run/netns/${deviceNetns}`))
    fail(`--device-netns ${deviceNetns}: no such network namespace (create it with ip netns add ${deviceNetns})`);
  const routes = (values.route as string[] | undefined) ?? [];
  for (const route of routes) {
    if (route !== 'default' && parseCidr(route) === undefined)
      fail(`--route ${route}: expected an IPv4 CIDR like 192.0.2.0/24, or default`);
  }
  if (routes.length > 0 && values['no-configure']) fail('--route needs the device configured (it conflicts with --no-configure)');
  const extraValues: Record<string, string | boolean | undefined> = {};
  for (const name of Object.keys(extra)) extraValues[name] = values[name] as string | boolean | undefined;
  return {
    flags: {
      tun,
      hostCidr,
      addr,
      hostCidr6,
      addr6,
      mtu,
      pcap: values.pcap as string | undefined,
      configure: !values['no-configure'],
      log,
      impair,
      offload: offloadText === 'on',
      deviceNetns,
      routes,
    },
    extra: extraValues,
  };
}

/** The IPv6 part of openStack's options from the flags (IPv6 off with --no-ipv6). */
export function ipv6Options(flags: StackFlags): Pick<OpenStackOptions, 'ipv6' | 'address6' | 'hostCidr6'> {
  return { ipv6: flags.addr6 !== undefined, address6: flags.addr6, hostCidr6: flags.hostCidr6 };
}

/** Root and /dev/net/tun are needed to open a TUN device; say so in one line otherwise. */
export function checkPrivileges(): void {
  if (process.getuid?.() !== 0) fail('must run as root (sudo npm start): creating a TUN device needs CAP_NET_ADMIN');
  if (!existsSync('/dev/net/tun')) fail('/dev/net/tun is missing: load the tun module (modprobe tun)');
}

/**
 * The frame every example program shares: parse the stack flags plus its own, bring up a stack
 * on a TUN device, run `body`, report an error the way the Go example programs do
 * ("Error: ..." and exit 1), and always close the stack (FIN to peers, device removed).
 */
export async function runExample(
  usage: string,
  extra: ExtraOptions,
  body: (options: Record<string, string | boolean | undefined>) => Promise<void>,
): Promise<never> {
  const parsed = parseStackFlags(process.argv.slice(2), `${usage} ${STACK_FLAGS_USAGE}`, extra);
  checkPrivileges();
  const { flags } = parsed;
  const running = await openStack({
    tun: flags.tun,
    hostCidr: flags.hostCidr,
    address: flags.addr,
    ...ipv6Options(flags),
    mtu: flags.mtu,
    configure: flags.configure,
    offload: flags.offload,
    deviceNetns: flags.deviceNetns,
    routes: flags.routes,
  });
  let exitCode = 0;
  try {
    await body(parsed.extra);
  } catch (error) {
    console.error('Error:', error instanceof Error ? error.message : String(error));
    exitCode = 1;
  } finally {
    await running.close();
  }
  process.exit(exitCode);
}
