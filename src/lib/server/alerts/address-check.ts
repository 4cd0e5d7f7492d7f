import { BlockList, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';

/**
 * A user's webhook must not make the server POST into its own network (cloud metadata, admin
 * ports, databases). In production every address the host name resolves to is checked before
 * the request. Not a full defence against DNS rebinding (fetch resolves again), but it stops the
 * plain case of a user typing an internal address.
 */
const PRIVATE = new BlockList();
for (const [network, prefix] of [
	['0.0.0.0', 8],
	['10.0.0.0', 8],
	['100.64.0.0', 10],
	['127.0.0.0', 8],
	['169.254.0.0', 16],
	['172.16.0.0', 12],
	['192.168.0.0', 16],
	['224.0.0.0', 4],
	['240.0.0.0', 4]
] as const) {
	PRIVATE.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
	['::', 128],
	['::1', 128],
	['fc00::', 7],
	['fe80::', 10],
	['ff00::', 8]
] as const) {
	PRIVATE.addSubnet(network, prefix, 'ipv6');
}

export function isPrivateAddress(address: string): boolean {
	const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
	if (mapped) return PRIVATE.check(mapped, 'ipv4');
	const family = isIP(address);
	if (family === 0) return true;
	return PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** True when the URL's host is, or resolves only to, public addresses. */
export async function reachesOnlyPublicAddresses(url: string): Promise<boolean> {
	const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
	if (isIP(host)) return !isPrivateAddress(host);
	try {
		const addresses = await lookup(host, { all: true, verbatim: true });
		return addresses.length > 0 && addresses.every((a) => !isPrivateAddress(a.address));
	} catch {
		// Unresolvable now: let fetch fail and the retry schedule try again.
		return true;
	}
}
