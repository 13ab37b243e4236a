import { defineArea } from './area.js';

/** The home page: objectives by theme. */
export const home = defineArea(
  {
    'home.title': 'Les objectifs de la ville',
    'home.intro':
      'Où en est la ville de ses engagements : énergie des bâtiments, qualité de l’accueil et des services. Chaque carte donne la dernière valeur mesurée, la cible et l’évolution sur un an.',
    'home.introStaff':
      'Tous les objectifs de la ville, publiés ou non. Choisissez un objectif pour descendre jusqu’aux sites, aux bâtiments et aux points mesurés.',
    'home.themeFilter': 'Thème',
    'home.none': 'Aucun objectif n’est publié pour l’instant.',
    'home.noResult': 'Pas encore de résultat.',
    'home.siteFilter': 'Site',
    'home.siteShown': 'Valeurs du site {site}.',
    'home.noResultAtSite': 'Pas de résultat pour le site {site}.',
  },
  {
    'home.title': 'The city’s objectives',
    'home.intro':
      'How the city stands on its commitments: energy of its buildings, quality of reception and services. Each card gives the latest measured value, the target and the change over a year.',
    'home.introStaff': 'Every objective of the city, published or not. Choose an objective to drill down to sites, buildings and the points measured.',
    'home.themeFilter': 'Theme',
    'home.none': 'No objective is published yet.',
    'home.noResult': 'No result yet.',
    'home.siteFilter': 'Site',
    'home.siteShown': 'Values of the site {site}.',
    'home.noResultAtSite': 'No result for the site {site}.',
  },
);
