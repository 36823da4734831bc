// TypeDoc plugin: name the modules of a package with several entry points
// (`@crust/core`, `@crust/core/plugin` and `@crust/core/testing`) by their import specifiers.
// TypeDoc would call them "" (for ".") and "testing".
import { Converter, ReflectionKind } from 'typedoc'

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    const project = context.project
    for (const module of project.getChildrenByKind(ReflectionKind.Module)) {
      module.name = module.name === '' || module.name === 'index' ? project.name : `${project.name}/${module.name}`
    }
  })
}
