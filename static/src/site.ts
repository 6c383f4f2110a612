// Site-wide behaviour for every page (loaded by base.html).
export {};
