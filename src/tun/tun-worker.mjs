// The TUN worker: moves packets between a packet file descriptor (a TUN device, or any fd where
// one read is one packet) and the two shared rings described in ring-layout.ts.
//
// Plain JavaScript on purpose: a worker thread is started by Node itself, outside tsx and
// vitest's transforms, so the file must run as-is. The shared-memory layout arrives in
// workerData from ring-layout.ts so that it is defined once.
//
// When the main thread's event loop reads the device (readDevice false), this thread only writes.
//
// The thread blocks in poll() on the device and a wake pipe. The main thread writes the pipe
// when it queued packets to send (and the worker was asleep), when it freed RX space the worker
// was waiting for, and to stop it. Reads go straight into the RX ring, writes straight from the
// TX ring: no copies on this side.
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';

const { fd, wakeFd, layout: C, wrapMarker: WRAP, maxPacket, readDevice } = workerData;
const control = new Int32Array(workerData.control);
const rxBytes = new Uint8Array(workerData.rx);
const rxWords = new Int32Array(workerData.rx);
const rxCapacity = rxBytes.length;
const rxMask = rxCapacity - 1;
const txBytes = new Uint8Array(workerData.tx);
const txWords = new Int32Array(workerData.tx);
const txCapacity = txBytes.length;
const txMask = txCapacity - 1;

const lib = koffi.load(null);
const poll = lib.func('int poll(void *fds, unsigned long count, int timeout)');
const read = lib.func('long read(int fd, void *buffer, unsigned long length)');
const write = lib.func('long write(int fd, const void *buffer, unsigned long length)');

const { EAGAIN, EINTR } = koffi.os.errno;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLL_FAILURE = 0x8 | 0x10 | 0x20; // POLLERR | POLLHUP | POLLNVAL

// Two struct pollfd { int fd; short events; short revents; }: [device, wake pipe].
const pollFds = new Int32Array(4);
const pollShorts = new Int16Array(pollFds.buffer);
pollFds[0] = fd;
pollFds[2] = wakeFd;
pollShorts[6] = POLLIN;
const scratch = new Uint8Array(64);

/** Ring bytes one read needs: the length word plus a maximum-size packet. */
const reserve = maxPacket + 4;
/** Packets read per round before looking at the TX ring again, so that neither direction starves. */
const rxBudget = 256;
/** The main thread is told about new packets at least this often during a long burst. */
const notifyEvery = 32;

let rxHead = Atomics.load(control, C.rxHead);
let txTail = Atomics.load(control, C.txTail);
/** The device refused a write with EAGAIN; wait for POLLOUT before trying again. */
let txBlocked = false;
/** The device reported an error or hang-up; stop polling it (the main thread decides what to do). */
let deviceFailed = false;

function reportFailure(reason) {
  if (deviceFailed) return;
  deviceFailed = true;
  pollFds[0] = -1; // poll() ignores negative descriptors
  parentPort?.postMessage({ type: 'device-failed', reason });
}

/** Write every queued packet (or until the device pushes back). */
function flushTx() {
  let txHead = Atomics.load(control, C.txHead);
  while (txTail !== txHead) {
    const offset = txTail & txMask;
    const length = txWords[offset >> 2];
    if (length === WRAP) {
      txTail = (txTail + (txCapacity - offset)) | 0;
      continue;
    }
    if (!deviceFailed) {
      const written = Number(write(fd, txBytes.subarray(offset + 4, offset + 4 + length), length));
      if (written < 0) {
        const errno = koffi.errno();
        if (errno === EINTR) continue;
        if (errno === EAGAIN) {
          txBlocked = true;
          break;
        }
        // Refused (e.g. EIO while the interface is down, EINVAL for a non-IP packet): drop it.
        Atomics.add(control, C.txWriteErrors, 1);
        Atomics.store(control, C.txLastErrno, errno);
      }
    } else {
      Atomics.add(control, C.txWriteErrors, 1);
    }
    txTail = (txTail + ((length + 7) & ~3)) | 0;
    Atomics.store(control, C.txTail, txTail);
    if (txTail === txHead) txHead = Atomics.load(control, C.txHead);
  }
  txBlocked = txBlocked && txTail !== txHead;
}

/** Free bytes in the RX ring. */
function rxFree() {
  return rxCapacity - ((rxHead - Atomics.load(control, C.rxTail)) | 0);
}

/** Whether one more maximum-size read fits (after a wrap to offset 0 if the end is too short). */
function rxHasRoom() {
  const contiguous = rxCapacity - (rxHead & rxMask);
  return rxFree() >= (contiguous < reserve ? contiguous + reserve : reserve);
}

const DRAINED = 0; // the device has nothing more to read
const RING_FULL = 1;
const BUDGET_SPENT = 2;

/** Read packets into the RX ring until the device is empty, the ring is full or the budget is spent. */
function fillRx() {
  if (deviceFailed || !readDevice) return DRAINED;
  let count = 0;
  let result = BUDGET_SPENT;
  while (count < rxBudget) {
    if (!rxHasRoom()) {
      result = RING_FULL;
      break;
    }
    let offset = rxHead & rxMask;
    const contiguous = rxCapacity - offset;
    if (contiguous < reserve) {
      rxWords[offset >> 2] = WRAP;
      rxHead = (rxHead + contiguous) | 0;
      Atomics.store(control, C.rxHead, rxHead);
      offset = 0;
    }
    const length = Number(read(fd, rxBytes.subarray(offset + 4, offset + 4 + maxPacket), maxPacket));
    if (length < 0) {
      const errno = koffi.errno();
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) reportFailure(`read failed with errno ${errno}`);
      result = DRAINED;
      break;
    }
    if (length === 0) {
      // End of file: only a socket peer can do that (a TUN device never does).
      reportFailure('end of file');
      result = DRAINED;
      break;
    }
    rxWords[offset >> 2] = length;
    rxHead = (rxHead + ((length + 7) & ~3)) | 0;
    Atomics.store(control, C.rxHead, rxHead);
    count++;
    if (count % notifyEvery === 0) Atomics.notify(control, C.rxHead);
  }
  if (count % notifyEvery !== 0) Atomics.notify(control, C.rxHead);
  if (result === RING_FULL) Atomics.add(control, C.rxStalls, 1);
  return result;
}

function drainWakePipe() {
  while (Number(read(wakeFd, scratch, scratch.length)) > 0) {
    // keep reading until EAGAIN: several wake bytes are one wake-up
  }
  // Only after the pipe is empty: clearing the flag first would let the main thread set it
  // and write a byte that this loop then swallows, leaving the flag set with an empty pipe, so
  // the main thread would never write a wake byte again and queued packets would wait for the
  // next received one (seen as stalls of seconds under load). The main thread publishes its
  // packet before it looks at the flag, and this thread looks at the TX ring after draining, so
  // a wake-up skipped while the flag was still set loses nothing.
  Atomics.store(control, C.wakePending, 0);
}

parentPort?.postMessage({ type: 'ready' });

for (;;) {
  if (Atomics.load(control, C.stop) !== 0) break;
  if (!txBlocked) flushTx();
  const rxState = fillRx();
  if (rxState === BUDGET_SPENT) continue;

  // Announce sleep, then look once more: whatever the main thread published before seeing the
  // announcement is caught here, and whatever it publishes after will come with a wake byte.
  const ringFull = rxState === RING_FULL;
  if (ringFull) Atomics.store(control, C.rxStalled, 1);
  Atomics.store(control, C.workerSleeping, 1);
  if (Atomics.load(control, C.stop) !== 0 || (!txBlocked && Atomics.load(control, C.txHead) !== txTail) || (ringFull && rxHasRoom())) {
    Atomics.store(control, C.workerSleeping, 0);
    Atomics.store(control, C.rxStalled, 0);
    continue;
  }
  pollShorts[2] = (ringFull || !readDevice ? 0 : POLLIN) | (txBlocked ? POLLOUT : 0);
  pollShorts[3] = 0;
  pollShorts[7] = 0;
  const ready = Number(poll(pollFds, 2, -1));
  Atomics.store(control, C.workerSleeping, 0);
  Atomics.store(control, C.rxStalled, 0);
  if (ready < 0) {
    if (koffi.errno() === EINTR) continue;
    parentPort?.postMessage({ type: 'device-failed', reason: `poll failed with errno ${koffi.errno()}` });
    break;
  }
  if (pollShorts[7] & POLLIN) drainWakePipe();
  const deviceEvents = pollShorts[3];
  if (deviceEvents & POLLOUT) txBlocked = false;
  if (deviceEvents & POLL_FAILURE && !(deviceEvents & POLLIN)) reportFailure(`poll reported events 0x${deviceEvents.toString(16)}`);
}
