// Package releasecheck checks the repository's modules as their users get
// them, and tags releases.
//
// A user never sees go.work or the sibling replace lines: they get each
// module at a tag, from a module proxy, with the versions of its siblings
// that its go.mod requires. So a [Checker] builds such a proxy on disk from
// git (module zips made with golang.org/x/mod/zip from the tags, plus
// temporary versions made from HEAD, which no tag names) and uses each
// module from a new module outside the repository, through that proxy only
// ([Repo.HeadPlan], [Repo.TagsPlan], [Repo.ReleasePlan]). [Repo.Release]
// tags only what passes, in dependency order, and [Repo.CheckAPI] compares
// each module's exported API with its latest tag.
//
// The command is tools/cmd/releasecheck; RELEASING.md says how the project
// uses it.
package releasecheck
