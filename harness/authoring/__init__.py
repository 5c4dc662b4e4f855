"""For assignment authors: ``grade new`` (:mod:`.new`), ``grade check`` (:mod:`.check`),
``grade kit`` (:mod:`.kit`) and the kit's content leak scan (:mod:`.leaks`)."""
