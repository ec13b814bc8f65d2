import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type * as Ajv2020Module from 'ajv/dist/2020.js';
import type * as AjvFormats from 'ajv-formats';
import { SchemaViolationError, UnknownEventTypeError } from '../errors/errors.js';
import type { EventDefinition } from './catalogue.js';
import { EVENT_CATALOGUE } from './catalogue.js';
import type { EventEnvelope } from './envelope.js';
import { ENVELOPE_SCHEMA, eventSubject } from './envelope.js';

// Required by the first validator, not when this package is imported: ajv is ~400 files that a
// CLI command which validates no event (`lantern-agent status`, `verify`) should not load.
const require = createRequire(import.meta.url);

export type ValidationVerdict = { ok: true } | { ok: false; reason: string };

function describe(errors: readonly ErrorObject[] | null | undefined, root: string): string {
  const first = errors?.[0];
  if (!first) return `${root} is invalid`;
  const where = `${root}${first.instancePath}`;
  if (first.keyword === 'additionalProperties') {
    return `${where} has unknown property "${String(first.params['additionalProperty'])}"`;
  }
  if (first.keyword === 'required') {
    return `${where}/${String(first.params['missingProperty'])} is required`;
  }
  return `${where} ${first.message ?? 'is invalid'}`;
}

interface CompiledCatalogue {
  envelope: ValidateFunction;
  payloads: Map<string, ValidateFunction>;
  definitions: Map<string, EventDefinition>;
}

/**
 * Compiled validators by catalogue: compiling the catalogue takes ~0.2 s, and a CA builds several
 * validators (store, sync ingest, inbox), as does every CLI command and agent daemon. A compiled
 * ajv function keeps no state between calls but its `errors`, which `describe` reads at once.
 */
const compiledCatalogues = new WeakMap<readonly EventDefinition[], CompiledCatalogue>();

function compileCatalogue(catalogue: readonly EventDefinition[]): CompiledCatalogue {
  const known = compiledCatalogues.get(catalogue);
  if (known) return known;
  const { Ajv2020 } = require('ajv/dist/2020.js') as typeof Ajv2020Module;
  const addFormats = require('ajv-formats') as typeof AjvFormats;
  const ajv = new Ajv2020({ allErrors: false, strict: true });
  addFormats.default(ajv);
  const compiled: CompiledCatalogue = {
    envelope: ajv.compile(ENVELOPE_SCHEMA),
    payloads: new Map(),
    definitions: new Map(),
  };
  for (const definition of catalogue) {
    const subject = eventSubject(definition.type, definition.version);
    compiled.definitions.set(subject, definition);
    compiled.payloads.set(
      subject,
      ajv.compile({ ...definition.payload, $id: `urn:lantern:schema:${subject}` }),
    );
  }
  compiledCatalogues.set(catalogue, compiled);
  return compiled;
}

/**
 * Schemas are compiled once per catalogue, never per event: validation sits on the sync ingest
 * hot path.
 */
export class EventValidator {
  private readonly envelope: ValidateFunction;
  private readonly payloads: ReadonlyMap<string, ValidateFunction>;
  private readonly definitions: ReadonlyMap<string, EventDefinition>;

  constructor(catalogue: readonly EventDefinition[] = EVENT_CATALOGUE) {
    ({
      envelope: this.envelope,
      payloads: this.payloads,
      definitions: this.definitions,
    } = compileCatalogue(catalogue));
  }

  definition(eventType: string, eventVersion: number): EventDefinition | undefined {
    return this.definitions.get(eventSubject(eventType, eventVersion));
  }

  checkPayload(eventType: string, eventVersion: number, payload: unknown): ValidationVerdict {
    const subject = eventSubject(eventType, eventVersion);
    const validate = this.payloads.get(subject);
    if (!validate) return { ok: false, reason: `unknown event type ${subject}` };
    return validate(payload)
      ? { ok: true }
      : { ok: false, reason: `${subject}: ${describe(validate.errors, 'payload')}` };
  }

  check(envelope: unknown): ValidationVerdict {
    if (!this.envelope(envelope))
      return { ok: false, reason: describe(this.envelope.errors, 'event') };
    const { eventType, eventVersion, payload } = envelope as EventEnvelope;
    return this.checkPayload(eventType, eventVersion, payload);
  }

  /** Throws the error a caller should surface: unknown type or schema violation. */
  assertValid(envelope: unknown): asserts envelope is EventEnvelope {
    const verdict = this.check(envelope);
    if (verdict.ok) return;
    const { eventType, eventVersion } = (envelope ?? {}) as Partial<EventEnvelope>;
    if (
      typeof eventType === 'string' &&
      typeof eventVersion === 'number' &&
      !this.definitions.has(eventSubject(eventType, eventVersion)) &&
      this.envelope(envelope)
    ) {
      throw new UnknownEventTypeError(verdict.reason);
    }
    throw new SchemaViolationError(verdict.reason);
  }
}
