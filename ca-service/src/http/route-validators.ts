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
 * of apps a test run builds in one process. Route schemas are plain JSON, so equal text is
 * an equal validator; Fastify's pool already shares the ajv instance between apps with equal
 * options. Fastify treats a factory given here as custom and no longer lower-cases a `headers`
 * schema's keys: no route validates headers, and one that does must write them in lower case.
 */
export const routeValidators: BuildCompilerFromPool = (externalSchemas, ajvOptions) => {
  const compile = fromPool(externalSchemas, ajvOptions);
  const optionsKey = JSON.stringify([externalSchemas, ajvOptions]);
  return (schema) => {
    const route = schema as unknown as RouteSchema;
    const key = `${optionsKey}\n${route.httpPart}\n${JSON.stringify(route.schema)}`;
    let validate = compiledBySchema.get(key);
    if (validate === undefined) {
      validate = compile(schema);
      compiledBySchema.set(key, validate);
    }
    return validate;
  };
};
