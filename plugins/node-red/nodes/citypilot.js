/* global module */
// The CityPilot nodes, loaded by the Node-RED runtime that a CityPilot gateway hosts. They reach
// the gateway through RED.settings.citypilot (the bridge: see src/bridge.ts, CityPilotBridge);
// outside a gateway they show a red status and do nothing.
module.exports = function (RED) {
  'use strict';

  function bridgeOf() {
    try {
      return RED.settings.citypilot;
    } catch {
      return undefined;
    }
  }

  function words(text) {
    return String(text || '')
      .split(/[\s,]+/)
      .filter(Boolean);
  }

  /** `main-meter.power`, or a pattern with `*` for any characters (`main-meter.*`). */
  function idMatcher(pattern) {
    if (!pattern.includes('*')) return (id) => id === pattern;
    const re = new RegExp(
      '^' +
        pattern
          .split('*')
          .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*') +
        '$',
    );
    return (id) => re.test(id);
  }

  // The points the editor offers (device and virtual).
  RED.httpAdmin.get('/citypilot/points', RED.auth.needsPermission('citypilot.read'), function (_req, res) {
    const bridge = bridgeOf();
    res.json(bridge ? { points: bridge.points(), virtual: bridge.virtualPoints().map((p) => p.id) } : { points: [], virtual: [] });
  });

  /**
   * citypilot point in: one message per sample the gateway accepts for the selected points —
   * msg.topic the point's stable id, msg.payload its value (null when bad), msg.time (ms since
   * the epoch), msg.quality, msg.reason when not good, msg.point its definition.
   */
  function PointInNode(config) {
    RED.nodes.createNode(this, config);
    const bridge = bridgeOf();
    if (!bridge) {
      this.status({ fill: 'red', shape: 'ring', text: 'not in a CityPilot gateway' });
      return;
    }
    const patterns = words(config.points);
    const tags = words(config.tags);
    const goodOnly = config.goodOnly !== false;
    const matchers = patterns.map(idMatcher);
    const selected = new Map();
    for (const p of bridge.points()) {
      const byId = matchers.length === 0 || matchers.some((m) => m(p.id));
      const byTags = tags.every((t) => p.tags.includes(t));
      if (byId && byTags && (matchers.length || tags.length)) selected.set(p.id, p);
    }
    const unknown = patterns.filter((pattern, i) => ![...selected.keys()].some(matchers[i]));
    if (unknown.length) this.warn('no point matches ' + unknown.join(', '));
    this.status(
      selected.size
        ? { fill: 'green', shape: 'dot', text: selected.size + (selected.size === 1 ? ' point' : ' points') }
        : { fill: 'yellow', shape: 'ring', text: 'no point selected' },
    );
    if (!selected.size) return;
    const unsubscribe = bridge.subscribe((samples) => {
      for (const s of samples) {
        const point = selected.get(s.point);
        if (!point || (goodOnly && s.quality !== 'good')) continue;
        const msg = { topic: s.point, payload: s.value, time: s.time, quality: s.quality, point: point };
        if (s.reason) msg.reason = s.reason;
        this.send(msg);
      }
    });
    this.on('close', () => {
      unsubscribe();
    });
  }
  RED.nodes.registerType('citypilot point in', PointInNode);

  /**
   * citypilot point out: publishes msg.payload as a sample of a virtual point (the node's point,
   * else msg.topic), at msg.time when given, else now. A value the point cannot take is refused:
   * the node reports an error (which a Catch node sees), shows it, and the gateway counts it.
   */
  function PointOutNode(config) {
    RED.nodes.createNode(this, config);
    const bridge = bridgeOf();
    let published = 0;
    let refused = 0;
    if (!bridge) this.status({ fill: 'red', shape: 'ring', text: 'not in a CityPilot gateway' });
    else this.status({ fill: 'grey', shape: 'ring', text: config.point || 'point from msg.topic' });
    this.on('input', (msg, _send, done) => {
      if (!bridge) return done(new Error('not running in a CityPilot gateway'));
      const point = config.point || msg.topic;
      try {
        const sample = bridge.publish(point, msg.payload, msg.time);
        published++;
        this.status({
          fill: 'green',
          shape: 'dot',
          text: String(sample.value) + ' · ' + published + ' published' + (refused ? ', ' + refused + ' refused' : ''),
        });
        done();
      } catch (error) {
        refused++;
        this.status({ fill: 'red', shape: 'dot', text: refused + ' refused: ' + error.message.slice(0, 60) });
        done(error);
      }
    });
  }
  RED.nodes.registerType('citypilot point out', PointOutNode);
};
