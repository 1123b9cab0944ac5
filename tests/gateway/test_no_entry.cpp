// A shared object that is not a Postern module: no POSTERN_APP.
extern "C" int not_postern() {
    return 42;
}
