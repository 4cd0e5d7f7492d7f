import { describe, expect, it } from 'vitest';
import { attachmentName } from '$lib/server/http/download';

describe('attachmentName', () => {
	it('keeps a title readable and cannot break the header', () => {
		expect(attachmentName('Plan: a "trip"\r\nto Lisbon', 'md')).toBe(
			`attachment; filename="Plan a trip to Lisbon.md"; filename*=UTF-8''Plan%20a%20trip%20to%20Lisbon.md`
		);
		expect(attachmentName("Grace's (notes)", 'md')).toContain("filename*=UTF-8''Grace%27s%20%28notes%29.md");
	});

	it('never cuts an emoji in half, and names an empty title', () => {
		const name = attachmentName(`${'a'.repeat(79)}😀 and more`, 'md');
		expect(name).toContain(`filename*=UTF-8''${'a'.repeat(79)}%F0%9F%98%80.md`);
		expect(attachmentName('???', 'json')).toBe(`attachment; filename="export.json"; filename*=UTF-8''export.json`);
	});
});
