import type { EventEnvelope } from './envelope.js';
import type {
  IdentityDeviceBoundForOfflineV1,
  IdentityDeviceBoundForOfflineV2,
  IdentitySessionRevokedV1,
  IdentitySessionRevokedV2,
  IdentityUserLoggedInV1,
  IdentityUserLoggedInV2,
  IdentityUserRegisteredV2,
  IdentityUserRegisteredV3,
} from './payloads.generated.js';
import type { CatalogueEvent } from './typed-events.js';

type Upcaster = (payload: Record<string, unknown>, envelope: EventEnvelope) => object;

/** One version step, typed by the payloads it reads and writes. */
function step<From, To>(fn: (payload: From, envelope: EventEnvelope) => To): Upcaster {
  return fn as unknown as Upcaster;
}

/**
 * By type, the version each upcaster reads; it writes the next one. The values a new field gets
 * come from the envelope or from what the old version already said, never from guesses a
 * producer of the new version could contradict. Copies are `Object.assign`, not a spread with
 * fields after it: in V8 that spread was ~5 µs per event on the sync ingest path, ten times more.
 */
const UPCASTERS = {
  'identity.user.registered': {
    // v1 (plaintext personal fields) has no step: sealing needs the subject's key, which only
    // the store has, so the users projection reads v1 as it is.
    2: step<IdentityUserRegisteredV2, IdentityUserRegisteredV3>((payload, envelope) =>
      Object.assign({}, payload, {
        emailVerified: false,
        homeTenantId: envelope.tenantId,
        // v2 had two producers: an admin's command (active) and an invitation (pending).
        registrationSource:
          payload.status === 'pending_verification' ? ('invite' as const) : ('admin' as const),
        createdAt: envelope.occurredAt,
      }),
    ),
  },
  'identity.user.logged_in': {
    1: step<IdentityUserLoggedInV1, IdentityUserLoggedInV2>((payload, envelope) =>
      Object.assign({}, payload, { tenantId: envelope.tenantId, at: envelope.occurredAt }),
    ),
  },
  'identity.session.revoked': {
    1: step<IdentitySessionRevokedV1, IdentitySessionRevokedV2>((payload, envelope) => {
      // Every v1 producer named the user; an event that did not is the actor's own sign-out.
      const { userId = envelope.actor.id, ...rest } = payload;
      return Object.assign(rest, { userId, tenantId: envelope.tenantId, at: envelope.occurredAt });
    }),
  },
  'identity.device.bound_for_offline': {
    1: step<IdentityDeviceBoundForOfflineV1, IdentityDeviceBoundForOfflineV2>(
      ({ certificateKid, ...payload }, envelope) =>
        Object.assign(payload, {
          tenantId: envelope.tenantId,
          publicKeyFingerprint: certificateKid,
          at: envelope.occurredAt,
        }),
    ),
  },
} as const satisfies Readonly<Record<string, Readonly<Record<number, Upcaster>>>>;

type Upcasters = typeof UPCASTERS;

/** A version `upcast` never returns: it has an upcaster to the next one. */
type Superseded = {
  [T in keyof Upcasters]: { eventType: T; eventVersion: keyof Upcasters[T] };
}[keyof Upcasters];

/** A catalogue event as `upcast` returns it: every type at a version projections must read. */
export type UpcastEvent<E extends EventEnvelope = EventEnvelope> = Exclude<
  CatalogueEvent<E>,
  Superseded
>;

/** The versions that have an upcaster, as `type.vN` subjects (for the docs and the tests). */
export function upcastSubjects(): string[] {
  return Object.entries(UPCASTERS).flatMap(([type, steps]) =>
    Object.keys(steps).map((version) => `${type}.v${version}`),
  );
}

/**
 * The event at the newest version its upcasters reach: what a projection reads, whichever
 * version was stored. The envelope stays as stored except for `eventVersion`, and `schemaUri`,
 * which named the stored version's schema, is dropped.
 */
export function upcast<E extends EventEnvelope>(event: E): E {
  let current = event;
  for (;;) {
    const steps = (UPCASTERS as Readonly<Record<string, Readonly<Record<number, Upcaster>>>>)[
      current.eventType
    ];
    const next = steps?.[current.eventVersion];
    if (next === undefined) return current;
    const { schemaUri: _stored, ...rest } = current;
    current = Object.assign(rest, {
      eventVersion: current.eventVersion + 1,
      payload: next(current.payload, current),
    }) as E;
  }
}
