import { describe, expect, it } from 'vitest';
import { validateSpecText } from '../../client/spec-file';

describe('unknown fields', () => {
  const SPEC = `service: checkout
version: 2.4.0
image: shop/checkout:2.4.0
regions:
  - name: eu-west-1
    target: { kind: simulated }
    labels: {}
    colour: blue
waves:
  - { regions: [eu-west-1], maxParalel: 1 }
steps:
  - kind: setWeight
    weight: 10
owner: team-a
`;

  it('reports each with the line and column of its key, and the field by name', () => {
    const result = validateSpecText(SPEC, 'spec.yaml');
    expect(result.ok ? [] : result.problems.map(({ path, field, line, column }) => ({ path, field, line, column }))).toEqual([
      { path: 'regions[0]', field: 'colour', line: 8, column: 5 },
      { path: 'waves[0]', field: 'maxParalel', line: 10, column: 29 },
      { path: '', field: 'owner', line: 14, column: 1 },
    ]);
  });

  it('locates a quoted key of a JSON spec', () => {
    const text = JSON.stringify({ service: 'checkout', version: '2.4.0', image: 'x', regions: [], waves: [], steps: [], 'odd key': 1 });
    const result = validateSpecText(text, 'spec.json');
    const problem = result.ok ? undefined : result.problems.find((p) => p.field === 'odd key');
    expect(problem && { line: problem.line, column: problem.column }).toEqual({ line: 1, column: text.indexOf('"odd key"') + 1 });
  });
});
