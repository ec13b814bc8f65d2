console.log(`Lantern is not runnable end to end yet: the shared kernel (ids, errors, events, logger)
is built and tested, and the CA service and the agent are next (issues 3 to 6).
Nothing was started. Run \`npm test\` to check the kernel.`);
