package releasecheck

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// Plan is what one check puts in its module proxy and what it checks.
type Plan struct {
	// Proxy holds every release the proxy serves.
	Proxy []Release
	// Check holds the releases to check from a downstream module, in
	// dependency order.
	Check []Release
}

// TagsPlan serves every release tag and checks the latest tag of each
// module: what a user who runs `go get MODULE@latest` gets.
func (r *Repo) TagsPlan() (Plan, error) {
	mods, tags, err := r.modulesAndTags("HEAD")
	if err != nil {
		return Plan{}, err
	}
	p, err := r.tagPlan(tags)
	if err != nil {
		return Plan{}, err
	}
	for _, m := range mods {
		if t, ok := Latest(tags, m.Dir); ok {
			rel, err := r.tagRelease(t)
			if err != nil {
				return Plan{}, err
			}
			p.Check = append(p.Check, rel)
		}
	}
	return p, nil
}

// HeadPlan serves every release tag and, for each module changed at rev
// since its latest tag (or never tagged), a temporary version made from
// rev: the version its siblings require when no tag has it yet, else the
// next patch version. It checks each module at that temporary version, or
// at its latest tag when unchanged. So an adapter whose code needs an
// untagged change in a sibling it requires at a tagged version fails, as it
// would for its users.
func (r *Repo) HeadPlan(rev string) (Plan, error) {
	commit, err := r.Commit(rev)
	if err != nil {
		return Plan{}, err
	}
	mods, tags, err := r.modulesAndTags(commit)
	if err != nil {
		return Plan{}, err
	}
	p, err := r.tagPlan(tags)
	if err != nil {
		return Plan{}, err
	}
	wanted := requiredVersions(mods)
	for _, m := range mods {
		latest, tagged := Latest(tags, m.Dir)
		if tagged {
			changed, err := r.Changed(latest.Rev, commit, m.Dir)
			if err != nil {
				return Plan{}, err
			}
			if !changed {
				rel, err := r.tagRelease(latest)
				if err != nil {
					return Plan{}, err
				}
				p.Check = append(p.Check, rel)
				continue
			}
		}
		rel := Release{Module: m, Version: headVersion(latest.Version, wanted[m.Path], tags, m.Dir), Rev: commit, Temporary: true}
		p.Proxy = append(p.Proxy, rel)
		p.Check = append(p.Check, rel)
	}
	return p, nil
}

// ReleasePlan serves every release tag and the proposed ones, made from
// rev, and checks the proposed ones in dependency order.
func (r *Repo) ReleasePlan(rev string, proposed []Tag) (Plan, error) {
	commit, err := r.Commit(rev)
	if err != nil {
		return Plan{}, err
	}
	mods, tags, err := r.modulesAndTags(commit)
	if err != nil {
		return Plan{}, err
	}
	p, err := r.tagPlan(tags)
	if err != nil {
		return Plan{}, err
	}
	for _, m := range mods { // dependency order
		for _, t := range proposed {
			if t.Dir == m.Dir {
				rel := Release{Module: m, Version: t.Version, Rev: commit, Temporary: true}
				p.Proxy = append(p.Proxy, rel)
				p.Check = append(p.Check, rel)
			}
		}
	}
	return p, nil
}

func (r *Repo) modulesAndTags(rev string) ([]Module, []Tag, error) {
	mods, err := r.Modules(rev)
	if err != nil {
		return nil, nil, err
	}
	tags, err := r.Tags(mods)
	return mods, tags, err
}

// tagPlan is a plan whose proxy serves every tag.
func (r *Repo) tagPlan(tags []Tag) (Plan, error) {
	var p Plan
	for _, t := range tags {
		rel, err := r.tagRelease(t)
		if err != nil {
			return Plan{}, err
		}
		p.Proxy = append(p.Proxy, rel)
	}
	return p, nil
}

// tagRelease is the release a tag makes, with the module as the tag has it.
func (r *Repo) tagRelease(t Tag) (Release, error) {
	m, err := r.ModuleAt(t.Rev, t.Dir)
	if err != nil {
		return Release{}, fmt.Errorf("releasecheck: tag %s: no module in %s: %w", t.Name(), t.Dir, err)
	}
	return Release{Module: m, Version: t.Version, Rev: t.Rev}, nil
}

// requiredVersions maps each sibling's module path to the highest version
// that another module requires.
func requiredVersions(mods []Module) map[string]string {
	want := map[string]string{}
	for _, m := range mods {
		for _, s := range m.Siblings {
			if semver.Compare(s.Version, want[s.Path]) > 0 {
				want[s.Path] = s.Version
			}
		}
	}
	return want
}

// headVersion picks the temporary version of a module changed since its
// latest tag (latest, "" when untagged): the version its siblings require
// when no tag has it and it is above latest, else the patch after latest,
// else v0.1.0.
func headVersion(latest, wanted string, tags []Tag, dir string) string {
	if wanted != "" && !hasTag(tags, dir, wanted) && (latest == "" || semver.Compare(wanted, latest) > 0) {
		return wanted
	}
	if latest == "" {
		return "v0.1.0"
	}
	return nextPatch(latest)
}

// nextPatch returns the patch version after v: v0.2.1 after v0.2.0, and
// v0.3.0 after the pre-release v0.3.0-rc.1.
func nextPatch(v string) string {
	if semver.Prerelease(v) != "" {
		return strings.TrimSuffix(v, semver.Prerelease(v))
	}
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	patch, _ := strconv.Atoi(parts[2])
	return fmt.Sprintf("v%s.%s.%d", parts[0], parts[1], patch+1)
}

func hasTag(tags []Tag, dir, version string) bool {
	for _, t := range tags {
		if t.Dir == dir && t.Version == version {
			return true
		}
	}
	return false
}

// Only returns the plan with the checks of the modules in dirs alone; the
// proxy still serves every release.
func (p Plan) Only(dirs ...string) Plan {
	var check []Release
	for _, rel := range p.Check {
		if contains(dirs, rel.Module.Dir) {
			check = append(check, rel)
		}
	}
	p.Check = check
	return p
}
