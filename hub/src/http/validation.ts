import type { TSchema } from '@sinclair/typebox';
import { formatPath, validate } from '@citypilot/sdk';

/**
 * A fastify validator compiler that checks bodies and path parameters against their TypeBox
 * schemas with CityPilot's messages (`body: limit: expected …`), answered 400 `REQUEST_INVALID` by
 * registerErrors; query strings pass unchecked, for routes that read them with their own parser
 * (the open data's filters, the fleet's journal). Register it with `app.setValidatorCompiler`.
 */
export function bodyAndParamsValidator({ schema, httpPart }: { schema: TSchema; httpPart?: string }) {
  return (data: unknown) => {
    if (httpPart !== 'body' && httpPart !== 'params') return { value: data };
    const result = validate(schema, data);
    if (result.ok) return { value: result.value };
    const detail = result.issues.map((i) => `${i.path.length ? formatPath(i.path) : httpPart}: ${i.message}`).join('; ');
    return { error: Object.assign(new Error(`${httpPart}: ${detail}`), { statusCode: 400, code: 'REQUEST_INVALID' }) };
  };
}
