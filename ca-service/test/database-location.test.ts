import { UsageError } from '@lantern/shared';
import { describe, expect, it } from 'vitest';
import {
  displayDatabaseUrl,
  postgresLocation,
  recordableDatabaseUrl,
} from '../src/data-dir/database-location.js';

describe('--database', () => {
  it('takes only a PostgreSQL URL', () => {
    for (const url of ['mysql://u@h/db', 'postgres//nohost', '/srv/lantern/db.sqlite', '']) {
      expect(() => postgresLocation(url), url).toThrow(UsageError);
    }
    expect(postgresLocation('postgresql://lantern@db/lantern')).toMatchObject({
      engine: 'postgres',
    });
  });

  it('refuses to record a password, in the user part or the query string', () => {
    for (const url of [
      'postgres://lantern:s3cret@db/lantern',
      'postgres://lantern@db/lantern?password=s3cret',
      'postgres://lantern@db/lantern?sslmode=require&sslpassword=s3cret',
    ]) {
      expect(() => recordableDatabaseUrl(url), url).toThrow(/must not carry a password/);
    }
    expect(recordableDatabaseUrl('postgres://lantern@db/lantern?sslmode=require')).toBe(
      'postgres://lantern@db/lantern?sslmode=require',
    );
  });

  it('never shows a password in messages', () => {
    const shown = displayDatabaseUrl('postgres://lantern:s3cret@db/lantern?password=other&x=1');
    expect(shown).not.toMatch(/s3cret|other/);
    expect(shown).toContain('x=1');
  });
});
