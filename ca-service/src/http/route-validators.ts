import type { BuildCompilerFromPool } from '@fastify/ajv-compiler';
import { AjvCompiler } from '@fastify/ajv-compiler';

/** What Fastify passes a validator compiler (its typings say only the schema). */
interface RouteSchema {
  schema: unknown;
  httpPart: string;
}

const fromPool: BuildCompilerFromPool = AjvCompiler();
type Validate = ReturnType<ReturnType<typeof fromPool>>;
const compiledBySchema = new Map<string, Validate>();

/**
 * Fastify's validator factory, with each route schema compiled once per process instead of once
 * per app: compiling the routes was ~0.3 s of every `buildApp`, paid again by each of the hundreds
 * of apps a test run builds in one process. Route schemas are plain JSON, so equal text under
 * equal options is an equal validator, and one ajv instance (this module's pool) serves every app.
 * The key cannot see functions, so ajv `plugins` and `onCreate` are refused rather than mixed up;
 * and Fastify, which treats a factory given here as custom, would no longer lower-case a `headers`
 * schema's keys, so a headers schema is refused too (no route validates headers).
 */
export const routeValidators: BuildCompilerFromPool = (externalSchemas, ajvOptions) => {
  if (ajvOptions?.plugins?.length || ajvOptions?.onCreate) {
    throw new Error('routeValidators: ajv plugins and onCreate are not supported');
  }
  const compile = fromPool(externalSchemas, ajvOptions);
  const optionsKey = JSON.stringify([externalSchemas, ajvOptions]);
  return (schema) => {
    const route = schema as unknown as RouteSchema;
    if (route.httpPart === 'headers') {
      throw new Error("routeValidators: a headers schema needs Fastify's own compiler");
    }
    const key = `${optionsKey}\n${route.httpPart}\n${JSON.stringify(route.schema)}`;
    let validate = compiledBySchema.get(key);
    if (validate === undefined) {
      validate = compile(schema);
      compiledBySchema.set(key, validate);
    }
    return validate;
  };
};
