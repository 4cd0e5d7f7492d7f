import { describe, expect, it } from 'vitest';
import { sameOriginPath } from '$lib/server/http/redirect';

const ORIGIN = 'https://chat.example.com';

describe('the path to go to after sign-in', () => {
	it.each([
		null,
		'',
		'/\t/evil.example/x',
		'/\r\nSet-Cookie: x=1',
		'/\nevil',
		'/\u0000/evil.example',
		'//evil.example',
		'/\\evil.example',
		'\\\\evil.example',
		'/.//evil.example',
		'/%2e%2e//evil.example',
		'/./%2e//evil.example',
		'https://evil.example/x',
		'https:evil.example',
		'javascript:alert(1)',
		'data:text/html,hi',
		' //evil.example',
		'/\u3000/evil.example',
		'chat'
	])('falls back to /chat for %j', (target) => {
		expect(sameOriginPath(target, ORIGIN)).toBe('/chat');
	});

	it.each([
		['/keys', '/keys'],
		['/usage?period=week#costs', '/usage?period=week#costs'],
		['/chat/%2F%2Fevil.example', '/chat/%2F%2Fevil.example'],
		['/a/../keys', '/keys'],
		['/admin/users/é', '/admin/users/%C3%A9']
	])('follows the same-site path %s', (target, expected) => {
		expect(sameOriginPath(target, ORIGIN)).toBe(expected);
	});
});
