import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

// Local receivers for alert tests: a webhook endpoint and a real SMTP server.

export interface Received {
	headers: IncomingHttpHeaders;
	body: string;
}

/** A local webhook receiver that records each request and answers with the next scripted status. */
export async function startReceiver(): Promise<{
	url: string;
	received: Received[];
	statuses: number[];
	close(): Promise<void>;
}> {
	const received: Received[] = [];
	const statuses: number[] = [];
	const server: Server = createServer((request, response) => {
		let body = '';
		request.setEncoding('utf8');
		request.on('data', (chunk: string) => (body += chunk));
		request.on('end', () => {
			received.push({ headers: request.headers, body });
			response.writeHead(statuses.shift() ?? 200).end('ok');
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}/hooks/latchkey`,
		received,
		statuses,
		close: () => new Promise((resolve) => server.close(() => resolve()))
	};
}

export interface ReceivedMail {
	from: string | undefined;
	to: string[];
	raw: string;
}

/** A real SMTP server on a free local port, without TLS or authentication. */
export async function startMailServer(): Promise<{ url: string; mails: ReceivedMail[]; close(): Promise<void> }> {
	const mails: ReceivedMail[] = [];
	const server = new SMTPServer({
		authOptional: true,
		disabledCommands: ['STARTTLS'],
		logger: false,
		onData(stream, session, callback) {
			let raw = '';
			stream.setEncoding('utf8');
			stream.on('data', (chunk: string) => (raw += chunk));
			stream.on('end', () => {
				const from = session.envelope.mailFrom;
				mails.push({ from: from ? from.address : undefined, to: session.envelope.rcptTo.map((r) => r.address), raw });
				callback();
			});
		}
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
	const { port } = server.server.address() as AddressInfo;
	return {
		url: `smtp://127.0.0.1:${port}`,
		mails,
		close: () => new Promise((resolve) => server.close(() => resolve()))
	};
}
