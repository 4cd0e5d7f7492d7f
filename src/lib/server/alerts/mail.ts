import nodemailer from 'nodemailer';
import type { AlertsConfig } from '$lib/server/config';

export interface MailMessage {
	to: string;
	subject: string;
	text: string;
}

/** Sends one message or throws; `close` ends pooled connections at shutdown. */
export interface Mailer {
	send(message: MailMessage): Promise<void>;
	close(): void;
}

/** A mailer over SMTP_URL (nodemailer parses user, password, host, port and smtps:// itself). */
export function createMailer(smtp: NonNullable<AlertsConfig['smtp']>): Mailer {
	const transport = nodemailer.createTransport({
		url: smtp.url,
		// A stalled mail server must not hold a worker's claim past its lease.
		connectionTimeout: 10_000,
		greetingTimeout: 10_000,
		socketTimeout: 20_000
	});
	return {
		async send(message) {
			await transport.sendMail({ from: smtp.from, to: message.to, subject: message.subject, text: message.text });
		},
		close() {
			transport.close();
		}
	};
}

/** A failure as the delivery log may show it: the SMTP code, never the server's text or the URL. */
export function mailErrorOf(error: unknown): string {
	if (typeof error === 'object' && error !== null) {
		const { code, responseCode } = error as { code?: unknown; responseCode?: unknown };
		const parts = [
			typeof code === 'string' ? code : null,
			typeof responseCode === 'number' ? `SMTP ${responseCode}` : null
		];
		const shown = parts.filter(Boolean).join(', ');
		if (shown) return `e-mail not accepted (${shown})`;
	}
	return 'e-mail could not be sent';
}
