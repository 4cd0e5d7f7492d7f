import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '$lib/server/config';
import { checkWebhookUrl } from '$lib/server/alerts/settings';
import { signatureHeader, verifySignature } from '$lib/server/alerts/signature';

const base = { NODE_ENV: 'test' };

describe('alert configuration', () => {
	it('turns e-mail on only with both SMTP_URL and MAIL_FROM', () => {
		expect(loadConfig(base).alerts).toEqual({ smtp: undefined, adminWebhook: undefined });
		expect(
			loadConfig({ ...base, SMTP_URL: 'smtp://u:p@mail.example.com:587', MAIL_FROM: 'a@example.com' }).alerts.smtp
		).toEqual({ url: 'smtp://u:p@mail.example.com:587', from: 'a@example.com' });
		expect(() => loadConfig({ ...base, SMTP_URL: 'smtp://mail.example.com' })).toThrow(/MAIL_FROM/);
		expect(() => loadConfig({ ...base, SMTP_URL: 'http://mail.example.com', MAIL_FROM: 'a@b.c' })).toThrow(ConfigError);
	});

	it('needs a secret of 16+ characters with the admins webhook', () => {
		expect(() => loadConfig({ ...base, ADMIN_WEBHOOK_URL: 'https://hooks.example.com/x' })).toThrow(
			/ADMIN_WEBHOOK_SECRET/
		);
		expect(() =>
			loadConfig({ ...base, ADMIN_WEBHOOK_URL: 'https://hooks.example.com/x', ADMIN_WEBHOOK_SECRET: 'short' })
		).toThrow(/16/);
		const config = loadConfig({
			...base,
			ADMIN_WEBHOOK_URL: 'https://hooks.example.com/x',
			ADMIN_WEBHOOK_SECRET: '0123456789abcdef'
		});
		expect(config.alerts.adminWebhook).toEqual({ url: 'https://hooks.example.com/x', secret: '0123456789abcdef' });
	});
});

describe('webhook addresses', () => {
	it('takes https anywhere and plain http only to this machine outside production', () => {
		expect(checkWebhookUrl('https://example.com/hook', 'production')).toBe('https://example.com/hook');
		expect(checkWebhookUrl('http://localhost:8080/hook', 'development')).toBe('http://localhost:8080/hook');
		expect(checkWebhookUrl('http://[::1]:8080/hook', 'test')).toBe('http://[::1]:8080/hook');
		expect(() => checkWebhookUrl('http://localhost:8080/hook', 'production')).toThrow(/https/);
		expect(() => checkWebhookUrl('http://example.com/hook', 'development')).toThrow(/https/);
		expect(() => checkWebhookUrl('ftp://example.com/hook', 'development')).toThrow(/https/);
		expect(() => checkWebhookUrl('not a url', 'development')).toThrow(/full web address/);
	});
});

describe('webhook signatures', () => {
	const secret = 'whsec_test';
	const body = '{"type":"test"}';

	it('verifies the HMAC over timestamp.body, and only within the tolerance', () => {
		const header = signatureHeader(secret, body, 1_700_000_000);
		expect(verifySignature(secret, header, body, { nowSeconds: 1_700_000_010 })).toBe(true);
		expect(verifySignature(secret, header, body, { nowSeconds: 1_700_000_301 })).toBe(false);
		expect(verifySignature('whsec_other', header, body, { nowSeconds: 1_700_000_000 })).toBe(false);
		// Moving the timestamp breaks the MAC: it is signed together with the body.
		const moved = header.replace('t=1700000000', 't=1700000100');
		expect(verifySignature(secret, moved, body, { nowSeconds: 1_700_000_100 })).toBe(false);
		expect(verifySignature(secret, undefined, body)).toBe(false);
		expect(verifySignature(secret, 'v1=abc', body)).toBe(false);
	});
});

describe('webhook address check', () => {
	it('knows private, loopback, link-local and mapped addresses from public ones', async () => {
		const { isPrivateAddress, reachesOnlyPublicAddresses } = await import('$lib/server/alerts/address-check');
		for (const address of [
			'10.1.2.3',
			'127.0.0.1',
			'169.254.169.254',
			'172.20.0.1',
			'192.168.1.1',
			'::1',
			'fd00::1',
			'fe80::1',
			'::ffff:10.0.0.1'
		]) {
			expect(isPrivateAddress(address), address).toBe(true);
		}
		for (const address of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
			expect(isPrivateAddress(address), address).toBe(false);
		}
		expect(await reachesOnlyPublicAddresses('https://169.254.169.254/latest/meta-data')).toBe(false);
		expect(await reachesOnlyPublicAddresses('https://[::1]:8443/hook')).toBe(false);
		expect(await reachesOnlyPublicAddresses('https://localhost/hook')).toBe(false);
		expect(await reachesOnlyPublicAddresses('https://1.1.1.1/hook')).toBe(true);
	});
});
