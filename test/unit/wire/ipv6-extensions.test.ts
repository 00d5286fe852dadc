import { describe, expect, it } from 'vitest';
import { concatBytes, fragmentHeader, ipv6Bytes, optionsHeader, routingHeader } from '../../support/ipv6-packets.js';
import { parseIPv6Address } from '../../../src/wire/address6.js';
import { PROTOCOL_TCP, PROTOCOL_UDP } from '../../../src/wire/ipv4.js';
import {
  NEXT_HEADER_DESTINATION_OPTIONS as DEST,
  NEXT_HEADER_FRAGMENT as FRAG,
  NEXT_HEADER_HOP_BY_HOP as HBH,
  NEXT_HEADER_NONE,
  NEXT_HEADER_ROUTING as ROUTING,
} from '../../../src/wire/ipv6.js';
import {
  IPV6_MAX_EXTENSION_BYTES,
  IPV6_MAX_EXTENSION_HEADERS,
  IPV6_MAX_OPTIONS,
  PARAMETER_PROBLEM_ERRONEOUS_FIELD,
  PARAMETER_PROBLEM_INCOMPLETE_CHAIN,
  PARAMETER_PROBLEM_UNRECOGNIZED_NEXT_HEADER,
  PARAMETER_PROBLEM_UNRECOGNIZED_OPTION,
  walkIPv6Extensions,
  type IPv6ChainResult,
  type IPv6ExtensionDropReason,
  type IPv6Fragment,
  type ParameterProblem,
} from '../../../src/wire/ipv6-extensions.js';

const UDP_HEADER = new Uint8Array(8);

/** A packet whose fixed header names `first`, then `headers`, then `rest`. */
function packet(
  first: number,
  headers: Uint8Array[],
  rest: Uint8Array = UDP_HEADER,
  destination = parseIPv6Address('fd00::2')!,
): Uint8Array {
  return ipv6Bytes({ nextHeader: first, payload: concatBytes(...headers, rest), destination });
}

function expectUpper(result: IPv6ChainResult, protocol: number, offset: number, nextHeaderPointer: number): void {
  expect(result).toEqual({ ok: true, protocol, offset, nextHeaderPointer, fragment: undefined, atomicFragment: false });
}

function expectDrop(result: IPv6ChainResult, reason: IPv6ExtensionDropReason, problem?: ParameterProblem): void {
  expect(result).toEqual({ ok: false, reason, problem });
}

describe('walkIPv6Extensions: the chain (RFC 8200 4.1)', () => {
  it('finds the upper layer right after the fixed header when there are no extension headers', () => {
    expectUpper(walkIPv6Extensions(packet(PROTOCOL_TCP, [])), PROTOCOL_TCP, 40, 6);
  });

  it('walks hop-by-hop, destination options and a routing header with no segments left', () => {
    const headers = [optionsHeader(DEST), optionsHeader(ROUTING, [1, 4, 0, 0, 0, 0]), routingHeader(PROTOCOL_UDP, 0, 0, 1)];
    // HbH (8) at 40, destination options (8) at 48, routing (24) at 56, UDP at 80.
    expectUpper(walkIPv6Extensions(packet(HBH, headers)), PROTOCOL_UDP, 80, 56);
  });

  it('reports a next header it does not know, with the pointer of the field that named it', () => {
    expectUpper(walkIPv6Extensions(packet(253, [])), 253, 40, 6);
    expectUpper(walkIPv6Extensions(packet(DEST, [optionsHeader(51)])), 51, 48, 40); // AH: no IPsec here
    expectUpper(walkIPv6Extensions(packet(DEST, [optionsHeader(NEXT_HEADER_NONE)], new Uint8Array(0))), NEXT_HEADER_NONE, 48, 40);
  });

  it('accepts hop-by-hop only right after the fixed header (4.3)', () => {
    const result = walkIPv6Extensions(packet(DEST, [optionsHeader(HBH), optionsHeader(PROTOCOL_UDP)]));
    expectDrop(result, 'misplaced_hop_by_hop', { code: PARAMETER_PROBLEM_UNRECOGNIZED_NEXT_HEADER, pointer: 40 });
  });

  it('drops a header whose length runs past the packet as truncated', () => {
    const lying = optionsHeader(PROTOCOL_UDP);
    lying[1] = 3; // claims 32 bytes; 8 are there, then the 8-byte UDP header
    expectDrop(walkIPv6Extensions(packet(DEST, [lying])), 'truncated_extension');
    const huge = optionsHeader(PROTOCOL_UDP);
    huge[1] = 255; // 2048 bytes
    expectDrop(walkIPv6Extensions(packet(DEST, [huge])), 'truncated_extension');
    // The header's first two bytes missing: the packet ends where it would start.
    expectDrop(walkIPv6Extensions(packet(DEST, [], new Uint8Array(0))), 'truncated_extension');
    expectDrop(walkIPv6Extensions(packet(DEST, [], new Uint8Array(1))), 'truncated_extension');
    expectDrop(walkIPv6Extensions(packet(FRAG, [], new Uint8Array(7))), 'truncated_extension');
    expectDrop(walkIPv6Extensions(packet(PROTOCOL_UDP, []).subarray(0, 30)), 'truncated_extension');
  });

  it('bounds the number of headers', () => {
    const chain = (count: number): Uint8Array[] =>
      Array.from({ length: count }, (_, i) => optionsHeader(i === count - 1 ? PROTOCOL_UDP : DEST));
    const atLimit = walkIPv6Extensions(packet(DEST, chain(IPV6_MAX_EXTENSION_HEADERS)));
    expect(atLimit.ok && atLimit.protocol).toBe(PROTOCOL_UDP);
    expectDrop(walkIPv6Extensions(packet(DEST, chain(IPV6_MAX_EXTENSION_HEADERS + 1))), 'too_many_extension_headers');
  });

  it('bounds the bytes of headers', () => {
    const big = (units: number): Uint8Array => {
      const header = new Uint8Array(units * 8);
      header[0] = PROTOCOL_UDP;
      header[1] = units - 1;
      // Options of action 00 (skip), each 2 + 253 bytes, then padding to the end.
      let i = 2;
      while (header.length - i >= 255 + 8) {
        header[i] = 0x1e;
        header[i + 1] = 253;
        i += 255;
      }
      header[i] = 1;
      header[i + 1] = header.length - i - 2;
      return header;
    };
    const fits = IPV6_MAX_EXTENSION_BYTES / 8;
    // The padding at the end of `big` is longer than 7 bytes; what matters here is which check comes first.
    expectDrop(walkIPv6Extensions(packet(DEST, [big(fits + 1)])), 'extension_chain_too_long');
    expect(walkIPv6Extensions(packet(DEST, [big(fits)]))).not.toMatchObject({ reason: 'extension_chain_too_long' });
  });
});

describe('walkIPv6Extensions: options (RFC 8200 4.2)', () => {
  const walkOptions = (options: number[], destination?: string): IPv6ChainResult =>
    walkIPv6Extensions(packet(HBH, [optionsHeader(PROTOCOL_UDP, options)], UDP_HEADER, parseIPv6Address(destination ?? 'fd00::2')));

  it('skips Pad1, PadN and unknown options whose action bits are 00 (Router Alert among them)', () => {
    expectUpper(walkOptions([0, 0, 1, 1, 0]), PROTOCOL_UDP, 48, 40);
    expectUpper(walkOptions([5, 2, 0, 0]), PROTOCOL_UDP, 48, 40); // Router Alert, MLD (RFC 2711)
    expectUpper(walkOptions([0x3f, 3, 1, 2, 3]), PROTOCOL_UDP, 48, 40);
  });

  it('discards silently for action bits 01', () => {
    expectDrop(walkOptions([0x41, 0]), 'unknown_option');
  });

  it('discards with a Parameter Problem, code 2, at the option type for action bits 10, multicast or not', () => {
    expectDrop(walkOptions([0, 0x81, 0]), 'unknown_option', { code: PARAMETER_PROBLEM_UNRECOGNIZED_OPTION, pointer: 43 });
    expectDrop(walkOptions([0x81, 0], 'ff02::1'), 'unknown_option', { code: PARAMETER_PROBLEM_UNRECOGNIZED_OPTION, pointer: 42 });
  });

  it('discards with a Parameter Problem for action bits 11 only when the destination is not multicast', () => {
    expectDrop(walkOptions([0xc2, 4, 0, 1, 0, 0]), 'unknown_option', { code: PARAMETER_PROBLEM_UNRECOGNIZED_OPTION, pointer: 42 });
    expectDrop(walkOptions([0xc2, 4, 0, 1, 0, 0], 'ff02::1'), 'unknown_option');
  });

  it('applies the same rules in a destination options header', () => {
    const result = walkIPv6Extensions(packet(DEST, [optionsHeader(PROTOCOL_UDP, [1, 0, 0x80, 0])]));
    expectDrop(result, 'unknown_option', { code: PARAMETER_PROBLEM_UNRECOGNIZED_OPTION, pointer: 44 });
  });

  it('drops an option that runs past its header', () => {
    const header = optionsHeader(PROTOCOL_UDP, [0x1e, 4, 0, 0, 0, 0]); // exactly 8 bytes
    header[3] = 5;
    expectDrop(walkIPv6Extensions(packet(DEST, [header])), 'bad_option_length');
    const typeOnly = optionsHeader(PROTOCOL_UDP, [0, 0, 0, 0, 0, 0x1e]); // the last byte is a type without a length
    expectDrop(walkIPv6Extensions(packet(DEST, [typeOnly])), 'bad_option_length');
  });

  it('allows at most 7 bytes of padding in a row', () => {
    expectUpper(walkOptions([0, 0, 0, 0, 0, 0, 0, 0x1e, 0]), PROTOCOL_UDP, 56, 40); // 7 Pad1, then an option, then PadN 5
    expectDrop(walkOptions([0, 0, 0, 0, 0, 0, 0, 0]), 'bad_padding'); // 8 Pad1
    expectDrop(walkOptions([1, 6, 0, 0, 0, 0, 0, 0]), 'bad_padding'); // PadN of 8 bytes
    expectDrop(walkOptions([0, 0, 1, 4, 0, 0, 0, 0]), 'bad_padding'); // Pad1 Pad1 PadN(6)
  });

  it('bounds the options besides padding in one header', () => {
    const options = (count: number): number[] => Array.from({ length: count }, () => [0x1e, 0]).flat();
    expect(walkOptions(options(IPV6_MAX_OPTIONS)).ok).toBe(true);
    expectDrop(walkOptions(options(IPV6_MAX_OPTIONS + 1)), 'too_many_options');
  });
});

describe('walkIPv6Extensions: routing headers (RFC 8200 4.4, RFC 5095)', () => {
  it('refuses type 0 with segments left, pointing at the routing type', () => {
    const result = walkIPv6Extensions(packet(ROUTING, [routingHeader(PROTOCOL_UDP, 0, 1, 1)]));
    expectDrop(result, 'routing_type_0', { code: PARAMETER_PROBLEM_ERRONEOUS_FIELD, pointer: 42 });
  });

  it('refuses any other type with segments left: we route nothing', () => {
    const result = walkIPv6Extensions(packet(DEST, [optionsHeader(ROUTING), routingHeader(PROTOCOL_UDP, 2, 1, 1)]));
    expectDrop(result, 'unknown_routing_type', { code: PARAMETER_PROBLEM_ERRONEOUS_FIELD, pointer: 50 });
  });

  it('ignores a routing header of any type with no segments left', () => {
    expectUpper(walkIPv6Extensions(packet(ROUTING, [routingHeader(PROTOCOL_UDP, 0, 0, 1)])), PROTOCOL_UDP, 64, 40);
    expectUpper(walkIPv6Extensions(packet(ROUTING, [routingHeader(PROTOCOL_UDP, 4, 0)])), PROTOCOL_UDP, 48, 40);
  });
});

describe('walkIPv6Extensions: fragments (RFC 8200 4.5, RFC 6946, RFC 7112)', () => {
  it('stops at a first fragment holding its whole chain, with the fragment header read', () => {
    const result = walkIPv6Extensions(packet(FRAG, [fragmentHeader(PROTOCOL_UDP, 0, true, 0xdeadbeef)], new Uint8Array(16)));
    const fragment: IPv6Fragment = {
      headerOffset: 40,
      fragmentOffset: 0,
      moreFragments: true,
      identification: 0xdeadbeef,
      nextHeader: PROTOCOL_UDP,
    };
    expect(result).toEqual({ ok: true, protocol: PROTOCOL_UDP, offset: 48, nextHeaderPointer: 40, fragment, atomicFragment: false });
  });

  it('stops at a later fragment after the unfragmentable part', () => {
    const result = walkIPv6Extensions(packet(HBH, [optionsHeader(FRAG), fragmentHeader(PROTOCOL_TCP, 1448, false, 7)], new Uint8Array(5)));
    expect(result).toMatchObject({
      ok: true,
      protocol: PROTOCOL_TCP,
      offset: 56,
      nextHeaderPointer: 48,
      fragment: { headerOffset: 48, fragmentOffset: 1448, moreFragments: false, identification: 7 },
    });
  });

  it('processes an atomic fragment as a whole packet (RFC 6946)', () => {
    const result = walkIPv6Extensions(packet(FRAG, [fragmentHeader(DEST, 0, false, 99), optionsHeader(PROTOCOL_UDP)]));
    expect(result).toEqual({
      ok: true,
      protocol: PROTOCOL_UDP,
      offset: 56,
      nextHeaderPointer: 48,
      fragment: undefined,
      atomicFragment: true,
    });
  });

  it('drops a fragment with more to come whose data is not a multiple of 8 bytes, pointing at the payload length', () => {
    const result = walkIPv6Extensions(packet(FRAG, [fragmentHeader(PROTOCOL_UDP, 8, true, 1)], new Uint8Array(12)));
    expectDrop(result, 'bad_fragment_length', { code: PARAMETER_PROBLEM_ERRONEOUS_FIELD, pointer: 4 });
  });

  it('drops a fragment reaching past 65535 bytes, pointing at the fragment offset', () => {
    const result = walkIPv6Extensions(packet(FRAG, [fragmentHeader(PROTOCOL_UDP, 65528, false, 1)], new Uint8Array(8)));
    expectDrop(result, 'fragment_too_big', { code: PARAMETER_PROBLEM_ERRONEOUS_FIELD, pointer: 42 });
    const last = walkIPv6Extensions(packet(FRAG, [fragmentHeader(PROTOCOL_UDP, 65520, false, 1)], new Uint8Array(15)));
    expect(last.ok).toBe(true);
    // The unfragmentable headers count too: the same fragment behind an 8-byte hop-by-hop header is too big.
    const behindHeader = walkIPv6Extensions(
      packet(HBH, [optionsHeader(FRAG), fragmentHeader(PROTOCOL_UDP, 65520, false, 1)], new Uint8Array(15)),
    );
    expectDrop(behindHeader, 'fragment_too_big', { code: PARAMETER_PROBLEM_ERRONEOUS_FIELD, pointer: 50 });
  });

  it('drops a first fragment without its whole header chain (RFC 7112), code 3', () => {
    const incomplete = { code: PARAMETER_PROBLEM_INCOMPLETE_CHAIN, pointer: 0 };
    // A destination options header that continues in the next fragment.
    const cut = optionsHeader(PROTOCOL_UDP);
    cut[1] = 2;
    expectDrop(walkIPv6Extensions(packet(FRAG, [fragmentHeader(DEST, 0, true, 1), cut])), 'incomplete_first_fragment', incomplete);
    // A TCP header cut after 16 of its 20 bytes.
    expectDrop(
      walkIPv6Extensions(packet(FRAG, [fragmentHeader(PROTOCOL_TCP, 0, true, 1)], new Uint8Array(16))),
      'incomplete_first_fragment',
      incomplete,
    );
    // Nothing at all after the fragment header.
    expectDrop(
      walkIPv6Extensions(packet(FRAG, [fragmentHeader(PROTOCOL_UDP, 0, true, 1)], new Uint8Array(0))),
      'incomplete_first_fragment',
      incomplete,
    );
  });

  it('resumes after reassembly from the fragment header offset', () => {
    // The reassembled packet: HbH, then (where the fragment header was) destination options, then UDP.
    const reassembled = packet(HBH, [optionsHeader(DEST), optionsHeader(PROTOCOL_UDP)]);
    expectUpper(walkIPv6Extensions(reassembled, 'process', DEST, 48, 40), PROTOCOL_UDP, 56, 48);
    // A hop-by-hop header there is still misplaced.
    expectDrop(walkIPv6Extensions(reassembled, 'process', HBH, 48, 40), 'misplaced_hop_by_hop', {
      code: PARAMETER_PROBLEM_UNRECOGNIZED_NEXT_HEADER,
      pointer: 40,
    });
  });
});

describe("walkIPv6Extensions in 'skip' mode", () => {
  it('follows the structure without acting on options or routing headers', () => {
    const headers = [optionsHeader(ROUTING, [0xc2, 4, 0, 0, 0, 0]), routingHeader(PROTOCOL_UDP, 0, 1, 1)];
    expectUpper(walkIPv6Extensions(packet(DEST, headers), 'skip'), PROTOCOL_UDP, 72, 48);
  });

  it('follows a first fragment into its data and stops at a later one', () => {
    const first = walkIPv6Extensions(
      packet(FRAG, [fragmentHeader(DEST, 0, true, 1), optionsHeader(PROTOCOL_TCP)], new Uint8Array(20)),
      'skip',
    );
    expectUpper(first, PROTOCOL_TCP, 56, 48);
    const later = walkIPv6Extensions(packet(FRAG, [fragmentHeader(PROTOCOL_TCP, 8, true, 1)]), 'skip');
    expect(later).toMatchObject({ ok: true, fragment: { fragmentOffset: 8 } });
  });

  it('still drops a truncated chain', () => {
    expectDrop(walkIPv6Extensions(packet(DEST, [], new Uint8Array(1)), 'skip'), 'truncated_extension');
  });
});
