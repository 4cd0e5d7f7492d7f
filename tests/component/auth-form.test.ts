import { render, screen } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import AuthForm from '$lib/components/AuthForm.svelte';

describe('AuthForm', () => {
	it('shows the server’s message as an alert and keeps the typed email', () => {
		render(AuthForm, {
			mode: 'signin',
			form: { email: 'ada@example.com', message: 'That email and password do not match an account.' }
		});
		expect(screen.getByRole('alert').textContent).toBe('That email and password do not match an account.');
		expect((screen.getByLabelText('Email') as HTMLInputElement).value).toBe('ada@example.com');
		expect(screen.getByRole('button', { name: 'Sign in' })).toBeTruthy();
	});

	it('asks for a 12-character password that is not a common one when signing up', () => {
		render(AuthForm, { mode: 'signup', form: null });
		expect(
			screen.getByText(
				'At least 12 characters, not a common password, one repeated character or your email. A passphrase works well.'
			)
		).toBeTruthy();
		expect(screen.getByLabelText('Password', { exact: true }).getAttribute('minlength')).toBe('12');
	});
});
