// The part of kelk's compatibility layer (kelk_compat.hpp) that concerns Sacado: which of its
// headers kelk_autodiff.hpp includes, the same way for Kokkos 3.4 and Kokkos 4. Kept apart from
// kelk_compat.hpp so that only code using kelk::AutoDiff includes Sacado.
#pragma once

#include <Kokkos_Core.hpp>

// Sacado's forward-mode SFad and its math functions only, in the order Sacado.hpp includes
// them: Sacado.hpp also brings its Kokkos View specialisations, which use Kokkos 3's
// impl/Kokkos_ViewMapping.hpp and so do not compile with Kokkos 4 (kelk never puts Fad types
// in Views: they live in a kernel's registers only).
// Sacado 13.2 also includes Kokkos headers that Kokkos 4 marks as internal (Kokkos_MemoryPool
// .hpp); Kokkos_Core.hpp has included them already, so nothing new comes in.
#ifndef KOKKOS_IMPL_PUBLIC_INCLUDE
#define KOKKOS_IMPL_PUBLIC_INCLUDE
#define KELK_IMPL_PUBLIC_INCLUDE_FOR_SACADO
#endif
#include <Sacado_MathFunctions.hpp>
#include <Sacado_Fad_ExpressionTraits.hpp>
#include <Sacado_Fad_SFadTraits.hpp>
#include <Sacado_Fad_SFad.hpp>
#ifdef KELK_IMPL_PUBLIC_INCLUDE_FOR_SACADO
#undef KOKKOS_IMPL_PUBLIC_INCLUDE
#undef KELK_IMPL_PUBLIC_INCLUDE_FOR_SACADO
#endif
