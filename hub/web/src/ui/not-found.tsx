/** The page of an address that names nothing the reader may see (an unknown or unpublished objective …). */
import { useI18n } from '../i18n.js';
import { View } from './view.js';

export function NotFound() {
  const { t } = useI18n();
  return (
    <View name="not-found" busy={false} title={t('app.notFound')}>
      <h1>{t('app.notFound')}</h1>
      <p>
        <a href="/">{t('app.backHome')}</a>
      </p>
    </View>
  );
}
