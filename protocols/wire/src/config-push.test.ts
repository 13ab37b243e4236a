import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_BUCKET, directGetSubject, encodeConfigNotice } from './config-push.js';

describe('configuration push', () => {
  it("reads one gateway's key by a subject that names it, so that permissions can restrict it", () => {
    expect(directGetSubject(DEFAULT_CONFIG_BUCKET, 'town-hall')).toBe('$JS.API.DIRECT.GET.KV_citypilot-config.$KV.citypilot-config.town-hall');
  });

  it('announces a revision as JSON', () => {
    expect(JSON.parse(encodeConfigNotice({ revision: 7 }))).toEqual({ revision: 7 });
  });
});
