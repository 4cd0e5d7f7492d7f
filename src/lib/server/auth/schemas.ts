import { z } from 'zod';

export const MIN_PASSWORD_LENGTH = 10;
// Long enough for any passphrase or password manager; bounded so nobody makes us hash megabytes.
export const MAX_PASSWORD_LENGTH = 256;

/** Trimmed and lower-cased, so `Ada@Example.COM ` and `ada@example.com` are one account. */
export const emailSchema = z
	.string({ required_error: 'Enter your email address.', invalid_type_error: 'Enter your email address.' })
	.max(254, 'That email address is too long.')
	.transform((value) => value.trim().toLowerCase())
	.pipe(z.string().min(1, 'Enter your email address.').email('Enter a valid email address, like ada@example.com.'));

export const newPasswordSchema = z
	.string({ required_error: 'Choose a password.', invalid_type_error: 'Choose a password.' })
	.min(MIN_PASSWORD_LENGTH, `Use at least ${MIN_PASSWORD_LENGTH} characters for your password.`)
	.max(MAX_PASSWORD_LENGTH, `Passwords can be at most ${MAX_PASSWORD_LENGTH} characters.`);

export const passwordSchema = z
	.string({ required_error: 'Enter your password.', invalid_type_error: 'Enter your password.' })
	.min(1, 'Enter your password.')
	.max(MAX_PASSWORD_LENGTH, `Passwords can be at most ${MAX_PASSWORD_LENGTH} characters.`);

export const signUpInput = z.object({ email: emailSchema, password: newPasswordSchema }).strict();
export const signInInput = z.object({ email: emailSchema, password: passwordSchema }).strict();

export type SignUpInput = z.infer<typeof signUpInput>;
export type SignInInput = z.infer<typeof signInInput>;

export const changePasswordInput = z
	.object({
		currentPassword: z
			.string({ required_error: 'Enter your current password.', invalid_type_error: 'Enter your current password.' })
			.min(1, 'Enter your current password.')
			.max(MAX_PASSWORD_LENGTH, 'Your current password is not correct.'),
		newPassword: z
			.string({ required_error: 'Choose a new password.', invalid_type_error: 'Choose a new password.' })
			.min(MIN_PASSWORD_LENGTH, `Use at least ${MIN_PASSWORD_LENGTH} characters for your new password.`)
			.max(MAX_PASSWORD_LENGTH, `Passwords can be at most ${MAX_PASSWORD_LENGTH} characters.`)
	})
	// The form's second entry of the new password; API clients may leave it out.
	.extend({ confirmPassword: z.string({ invalid_type_error: 'confirmPassword must be text.' }).optional() })
	.strict()
	.refine((input) => input.confirmPassword === undefined || input.confirmPassword === input.newPassword, {
		message: 'The two new passwords do not match. Type the same new password twice.',
		path: ['confirmPassword']
	})
	.refine((input) => input.newPassword !== input.currentPassword, {
		message: 'Choose a new password that is different from your current one.',
		path: ['newPassword']
	});

export type ChangePasswordInput = z.infer<typeof changePasswordInput>;
