import { z } from 'zod';
import { MIN_PASSWORD_LENGTH } from '$lib/password-rules';
import { PASSWORD_MESSAGES, passwordIsEmail, passwordWeakness } from './password-policy';

export { MIN_PASSWORD_LENGTH };
// Long enough for any passphrase or password manager; bounded so nobody makes us hash megabytes.
export const MAX_PASSWORD_LENGTH = 256;

/** Trimmed and lower-cased, so `Ada@Example.COM ` and `ada@example.com` are one account. */
export const emailSchema = z
	.string({ required_error: 'Enter your email address.', invalid_type_error: 'Enter your email address.' })
	.max(254, 'That email address is too long.')
	.transform((value) => value.trim().toLowerCase())
	.pipe(z.string().min(1, 'Enter your email address.').email('Enter a valid email address, like ada@example.com.'));

/** A password being set: long enough, and not a repeated character, a common password or the email. */
const newPassword = (required: string, tooShort: string) =>
	z
		.string({ required_error: required, invalid_type_error: required })
		.min(MIN_PASSWORD_LENGTH, tooShort)
		.max(MAX_PASSWORD_LENGTH, `Passwords can be at most ${MAX_PASSWORD_LENGTH} characters.`)
		.superRefine((password, ctx) => {
			const checkable = password.length >= MIN_PASSWORD_LENGTH && password.length <= MAX_PASSWORD_LENGTH;
			const weakness = checkable ? passwordWeakness(password) : null;
			if (weakness) ctx.addIssue({ code: z.ZodIssueCode.custom, message: weakness });
		});

export const newPasswordSchema = newPassword(
	'Choose a password.',
	`Use at least ${MIN_PASSWORD_LENGTH} characters for your password.`
);

export const passwordSchema = z
	.string({ required_error: 'Enter your password.', invalid_type_error: 'Enter your password.' })
	.min(1, 'Enter your password.')
	.max(MAX_PASSWORD_LENGTH, `Passwords can be at most ${MAX_PASSWORD_LENGTH} characters.`);

export const signUpInput = z
	.object({ email: emailSchema, password: newPasswordSchema })
	.strict()
	.refine((input) => !passwordIsEmail(input.password, input.email), {
		message: PASSWORD_MESSAGES.email,
		path: ['password']
	});
export const signInInput = z.object({ email: emailSchema, password: passwordSchema }).strict();

export type SignUpInput = z.infer<typeof signUpInput>;
export type SignInInput = z.infer<typeof signInInput>;

export const changePasswordInput = z
	.object({
		currentPassword: z
			.string({ required_error: 'Enter your current password.', invalid_type_error: 'Enter your current password.' })
			.min(1, 'Enter your current password.')
			.max(MAX_PASSWORD_LENGTH, 'Your current password is not correct.'),
		newPassword: newPassword(
			'Choose a new password.',
			`Use at least ${MIN_PASSWORD_LENGTH} characters for your new password.`
		)
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
