// The Python module `realiisr._C`: importing it runs the static TORCH_LIBRARY registrars. It needs no
// Python API of its own (everything is a torch op), so this is the plain C API rather than pybind11.
#include <Python.h>

extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", "realiisr fused ops", -1, nullptr};
  return PyModule_Create(&module_def);
}
