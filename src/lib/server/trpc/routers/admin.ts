import { z } from 'zod';
import {
	adminAnalytics,
	adminAnalyticsInput,
	adminAuditLog,
	adminAuditLogInput,
	adminBulkKeysInput,
	adminDisableAllKeysInput,
	adminDisableKeyInput,
	adminEnableKeyInput,
	adminUserInput,
	adminUsersInput,
	bulkDeactivateKeys,
	bulkRevalidateKeys,
	deactivateKey,
	deactivateUserKeys,
	enableKey,
	getUserDetails,
	listUsers
} from '$lib/server/admin';
import { adminRoleInput, createInvite, grantAdmin, listInvites, revokeAdmin, revokeInvite } from '$lib/server/auth';
import {
	adminSetLimitsInput,
	adminSetModelCapInput,
	getEffectiveLimits,
	setAdminLimits,
	setAdminModelCap
} from '$lib/server/limits';
import {
	appModelRulesInput,
	appModelRulesView,
	deletePriceOverride,
	listPriceOverrides,
	priceOverrideInput,
	priceOverrideKey,
	setAppModelRules,
	setPriceOverride
} from '$lib/server/catalog';
import { lastHourAgainstBaseline } from '$lib/server/alerts';
import { adminProcedure, router } from '../trpc';
import type { Context, SessionUser } from '../context';

const actorOf = (ctx: Context & { user: SessionUser }) => ({ actorUserId: ctx.user.id, ip: ctx.ip || null });

/** Admins only: every procedure refuses (FORBIDDEN, audited as `admin.forbidden`) anyone else. */
export const adminRouter = router({
	/** Top spenders of the last hour against their own 7-day hourly median; `unusual` marks 5× outliers. */
	unusualUsage: adminProcedure.query(({ ctx }) => lastHourAgainstBaseline(ctx.services.db)),
	/** Which models the app key may serve: ordered allow/deny patterns and how many models they let through. */
	appModelRules: adminProcedure.query(() => appModelRulesView()),
	/** Replaces those rules (first match wins; none matching: allowed); audited as `catalog.set_rules`. */
	setAppModelRules: adminProcedure
		.input(appModelRulesInput)
		.mutation(({ ctx, input }) => setAppModelRules(ctx.services.db, input, actorOf(ctx))),
	/** Admin price overrides (win over the price library and OpenRouter's list), by provider and model. */
	priceOverrides: adminProcedure.query(({ ctx }) => listPriceOverrides(ctx.services.db)),
	/** Sets one override (micro-dollars per million tokens); audited as `catalog.set_price`. */
	setPriceOverride: adminProcedure
		.input(priceOverrideInput)
		.mutation(({ ctx, input }) => setPriceOverride(ctx.services.db, input, actorOf(ctx))),
	/** Removes one override; audited as `catalog.delete_price`. None there: NOT_FOUND. */
	deletePriceOverride: adminProcedure
		.input(priceOverrideKey)
		.mutation(({ ctx, input }) => deletePriceOverride(ctx.services.db, input, actorOf(ctx))),
	/** Users by email (search: part of the email), with keys' metadata and month-to-date spend by key source. */
	users: adminProcedure.input(adminUsersInput).query(({ ctx, input }) => listUsers(ctx.services.db, input)),
	/** One user: keys, usage by provider and key source (month to date, last 30 days), limits. Unknown: NOT_FOUND. */
	user: adminProcedure
		.input(adminUserInput)
		.query(({ ctx, input }) => getUserDetails(ctx.services.db, ctx.services.config.limitDefaults, input)),
	/** Sets a user's limit ceilings for one provider (null clears one); audited. Unknown user: NOT_FOUND. */
	setLimits: adminProcedure.input(adminSetLimitsInput).mutation(async ({ ctx, input }) => {
		const { limits, notice } = await setAdminLimits(ctx.services.db, ctx.services.config.limitDefaults, input, {
			actorUserId: ctx.user.id,
			ip: ctx.ip
		});
		return { ...limits, notice };
	}),
	/** The ceiling of one user's daily cap for one model (null clears it); audited. */
	setModelCap: adminProcedure.input(adminSetModelCapInput).mutation(async ({ ctx, input }) => {
		await setAdminModelCap(ctx.services.db, input, { actorUserId: ctx.user.id, ip: ctx.ip });
		return getEffectiveLimits(ctx.services.db, ctx.services.config.limitDefaults, input.userId);
	}),
	/** Incident response: switches off one key of any user; audited. Unknown key: NOT_FOUND. */
	disableKey: adminProcedure
		.input(adminDisableKeyInput)
		.mutation(({ ctx, input }) => deactivateKey(ctx.services.db, input, actorOf(ctx))),
	/** Incident response: switches off all of a user's keys (or one provider's); audited per key. Unknown user: NOT_FOUND. */
	disableAllKeys: adminProcedure
		.input(adminDisableAllKeysInput)
		.mutation(({ ctx, input }) => deactivateUserKeys(ctx.services.db, input, actorOf(ctx))),
	/** Incident response: one provider's keys of every user switched off (dryRun: counted only); one audit entry. */
	bulkDeactivateKeys: adminProcedure
		.input(adminBulkKeysInput)
		.mutation(({ ctx, input }) => bulkDeactivateKeys(ctx.services.db, input, actorOf(ctx))),
	/** Incident response: one provider's keys of every user made due for re-checking (dryRun: counted only); one audit entry. */
	bulkRevalidateKeys: adminProcedure
		.input(adminBulkKeysInput)
		.mutation(({ ctx, input }) => bulkRevalidateKeys(ctx.services.db, input, actorOf(ctx))),
	/** Lifts an admin's switch-off (of a stored or since-removed key): on again, re-addable; audited. Unknown: NOT_FOUND. */
	enableKey: adminProcedure
		.input(adminEnableKeyInput)
		.mutation(({ ctx, input }) => enableKey(ctx.services.db, input, actorOf(ctx))),
	/** Makes a user an admin; audited as `admin.grant`. Unknown user: NOT_FOUND. */
	grantAdmin: adminProcedure
		.input(adminRoleInput)
		.mutation(({ ctx, input }) =>
			grantAdmin(ctx.services.db, input, { kind: 'admin', userId: ctx.user.id, ip: ctx.ip || null })
		),
	/** Takes admin rights away (from the next request on); audited as `admin.revoke`. Not one's own: CONFLICT. */
	revokeAdmin: adminProcedure
		.input(adminRoleInput)
		.mutation(({ ctx, input }) =>
			revokeAdmin(ctx.services.db, input, { kind: 'admin', userId: ctx.user.id, ip: ctx.ip || null })
		),
	/** Invitations to sign up (SIGNUP_MODE=invite): newest first. */
	invites: adminProcedure.query(({ ctx }) => listInvites(ctx.services.db)),
	/** A new invitation; its code is in this answer only. Audited as `invite.create`. */
	createInvite: adminProcedure
		.input(z.record(z.unknown()))
		.mutation(({ ctx, input }) => createInvite(ctx.services.db, input, { userId: ctx.user.id, ip: ctx.ip || null })),
	/** Withdraws an unused invitation; audited as `invite.revoke`. Unknown: NOT_FOUND. */
	revokeInvite: adminProcedure
		.input(z.record(z.unknown()))
		.mutation(({ ctx, input }) => revokeInvite(ctx.services.db, input, { userId: ctx.user.id, ip: ctx.ip || null })),
	/** The audit log, newest first: filters action, user / actor (email or id), provider, from, to; cursor paging. */
	auditLog: adminProcedure.input(adminAuditLogInput).query(({ ctx, input }) => adminAuditLog(ctx.services.db, input)),
	/** BYOK adoption, validation success per provider, fallbacks and reasons, own vs app cost, daily series. */
	analytics: adminProcedure.input(adminAnalyticsInput).query(({ ctx, input }) => adminAnalytics(ctx.services.db, input))
});
