import { describe, expect, it } from 'vitest';
import { wrapperGoMod } from '../../peers/argo/build';
import { ARGO_ROLLOUTS_MODULE, ARGO_ROLLOUTS_VERSION } from '../../peers/argo/versions';

const MODULE_GO_MOD = `module github.com/argoproj/argo-rollouts

go 1.26.1

require (
	k8s.io/api v0.34.5
)

replace (
	github.com/go-check/check => github.com/go-check/check v0.0.0-20180628173108-788fd7840127
	k8s.io/api => k8s.io/api v0.34.5
)

replace k8s.io/kms => k8s.io/kms v0.34.5
`;

describe('the wrapper module of the Argo Rollouts build', () => {
  it("requires the release and copies the module's go line and every replace directive", () => {
    const lines = wrapperGoMod(MODULE_GO_MOD).split('\n');
    expect(lines).toContain('go 1.26.1');
    expect(lines).toContain(`require ${ARGO_ROLLOUTS_MODULE} ${ARGO_ROLLOUTS_VERSION}`);
    expect(lines).toContain('\tk8s.io/api => k8s.io/api v0.34.5');
    expect(lines).toContain('\tgithub.com/go-check/check => github.com/go-check/check v0.0.0-20180628173108-788fd7840127');
    expect(lines).toContain('replace k8s.io/kms => k8s.io/kms v0.34.5');
    expect(lines.filter((l) => l.startsWith('module '))).toEqual(['module meridian.local/argo-rollouts']);
  });

  it('refuses a go.mod without replaces, or one that replaces with a local path', () => {
    expect(() => wrapperGoMod('module x\n\ngo 1.26.1\n')).toThrow();
    expect(() => wrapperGoMod(`${MODULE_GO_MOD}\nreplace k8s.io/kubectl => ./staging/kubectl\n`)).toThrow();
  });
});
