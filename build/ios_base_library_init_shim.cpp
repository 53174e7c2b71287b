// Provides std::ios_base_library_init(), which GCC 13's libstdc++ (GLIBCXX_3.4.32) exports and
// libLibTorchSharp.so calls once at load time. Older libstdc++ (Debian 12: GCC 12, GLIBCXX_3.4.30)
// lacks it; the function only has to make sure the standard streams are initialised, which a static
// std::ios_base::Init does on every libstdc++ version.
#include <ios>

namespace std
{
    __attribute__((visibility("default"))) void ios_base_library_init()
    {
        static ios_base::Init init;
    }
}
