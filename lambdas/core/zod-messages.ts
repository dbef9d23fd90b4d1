/**
 * The Lambdas validate with zod's small build, `zod/mini`: it loads in a few
 * milliseconds of a cold start where the full build takes tens. Import it as
 * a namespace (`import * as z from 'zod/mini'`): esbuild then keeps only the
 * parts a schema uses, where `import { z }` would keep all of zod.
 *
 * The small build carries no messages of its own ("Invalid input"); this
 * module installs the full build's English ones, so an error reads the same
 * whichever build made it. Every module that declares a runtime schema
 * imports it for that side effect, so no parse can run before it.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());
