import { describe, expect, it } from 'vitest';
import { LanternError, sharedErrors } from '@lantern/shared';
import { agentErrors } from '../src/errors.js';

describe('agent errors', () => {
  it('gives every class its own code, not taken by the shared ones', () => {
    const codes = agentErrors.map((error) => error.definition.code);
    const shared = new Set<string>(sharedErrors.map((error) => error.definition.code));
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.filter((code) => shared.has(code))).toEqual([]);
  });

  it('builds LanternErrors with a status, a meaning and a fix', () => {
    for (const ErrorClass of agentErrors) {
      const { code, status, meaning, fix } = ErrorClass.definition;
      const error = new ErrorClass();
      expect(error).toBeInstanceOf(LanternError);
      expect(error.code).toBe(code);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(meaning.length).toBeGreaterThan(10);
      expect(fix.length).toBeGreaterThan(10);
      expect(error.toJSON()).toEqual({ code, message: meaning });
    }
  });
});
