/**
 * `npm start -- FLAGS` (as root): bring the stack up on a TUN device and run the demo services.
 * The flags, the `ready` line and the exit codes are a contract (docs/ARCHITECTURE.md, "The CLI
 * contract"): a wrong flag, a missing /dev/net/tun, or running without root print one line and
 * exit 2.
 */
import { startDemoServices } from '../src/demo/services.js';
import { TcpForwarder } from '../src/forward/tcp-forwarder.js';
import { UdpForwarder } from '../src/forward/udp-forwarder.js';
import { createLogger } from '../src/log.js';
import { openStack } from '../src/open.js';
import { checkPrivileges, fail, ipv6Options, parseStackFlags, STACK_FLAGS_USAGE } from './stack-flags.js';

async function main(): Promise<void> {
  const { flags, extra } = parseStackFlags(process.argv.slice(2), `npm start -- [--forward] ${STACK_FLAGS_USAGE}`, {
    forward: { type: 'boolean', default: false },
  });
  checkPrivileges();
  const logger = createLogger(flags.log);

  let running;
  try {
    running = await openStack({
      tun: flags.tun,
      hostCidr: flags.hostCidr,
      address: flags.addr,
      ...ipv6Options(flags),
      mtu: flags.mtu,
      configure: flags.configure,
      pcap: flags.pcap,
      impair: flags.impair,
      offload: flags.offload,
      deviceNetns: flags.deviceNetns,
      routes: flags.routes,
      logger,
    });
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const services = await startDemoServices(running.stack, logger);
  // Forwarding: every TCP connection and UDP flow to another address is relayed through this
  // namespace.
  const forwarder = extra.forward === true ? await TcpForwarder.start(running.stack, { logger }) : undefined;
  const udpForwarder = extra.forward === true ? await UdpForwarder.start(running.stack, { logger }) : undefined;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: closing connections`);
    forwarder?.close();
    udpForwarder?.close();
    await services.close();
    await running.close(1000);
    process.stderr.write(`counters:\n${running.stack.counterSet.format()}\n`);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  process.stdout.write(
    `ready tun=${running.device.name} host=${flags.hostCidr} addr=${flags.addr} mtu=${flags.mtu}` +
      `${flags.addr6 !== undefined ? ` host6=${flags.hostCidr6} addr6=${flags.addr6}` : ' ipv6=off'} offload=${running.device.offload ? 'on' : 'off'}` +
      `${flags.pcap ? ` pcap=${flags.pcap}` : ''}${flags.impair ? ` impair=${flags.impair}` : ''}` +
      `${forwarder ? ' forward=on' : ''}${flags.deviceNetns ? ` device-netns=${flags.deviceNetns}` : ''}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
